"""`make run`: orderflow on this machine, in sandbox mode, in one command.

What it does, in order (a second run reuses everything and breaks nothing):
1. PostgreSQL: ORDERFLOW_DATABASE_URL, else 127.0.0.1:5432, else a private server (tools/pg.py).
2. Two databases, `orderflow` (ours, migrated) and `airflow` (Airflow's metadata, `airflow db migrate`).
3. The sandbox Best Buy (Mirakl) and Canada Post servers (`python -m sandbox serve`), with demo orders
   and customer messages arriving over time; the demo catalog is loaded into `products`.
4. Airflow 3 with the FAB auth manager as separate components (api-server, scheduler, dag-processor,
   triggerer) sharing one AIRFLOW_HOME under .state/; `airflow standalone` would force the simple
   auth manager, so it is not used. Roles Packer and Agent; an admin user whose password is printed
   once, when it is created (it is also kept in .state/secrets.json, readable by you only).
5. Prints the URLs. Ctrl-C stops everything it started.

Environment knobs: ORDERFLOW_EXECUTOR=celery (the CeleryExecutor topology of the cluster test: a
private redis-server and one ``airflow celery worker``, tools/cluster.py; default LocalExecutor),
ORDERFLOW_AIRFLOW_PORT (8080), ORDERFLOW_MIRAKL_PORT (8101),
ORDERFLOW_CANADAPOST_PORT (8102), ORDERFLOW_SANDBOX=0 to use the connections you define yourself
(AIRFLOW_CONN_MIRAKL_DEFAULT / AIRFLOW_CONN_CANADAPOST_DEFAULT) instead of the sandbox.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tools import cluster, pg

REPO = Path(__file__).resolve().parent.parent
STATE = pg.STATE_DIR
VENV_BIN = Path(sys.executable).parent
AIRFLOW_HOME = STATE / "airflow"
LOGS = STATE / "logs"

AIRFLOW_PORT = int(os.environ.get("ORDERFLOW_AIRFLOW_PORT", "8080"))
MIRAKL_PORT = int(os.environ.get("ORDERFLOW_MIRAKL_PORT", "8101"))
CANADAPOST_PORT = int(os.environ.get("ORDERFLOW_CANADAPOST_PORT", "8102"))
USE_SANDBOX = os.environ.get("ORDERFLOW_SANDBOX", "1") != "0"
EXECUTOR = os.environ.get("ORDERFLOW_EXECUTOR", "local").strip().lower()


def log(message: str) -> None:
    print(f"[orderflow] {message}", flush=True)


# Users the demo creates once: an admin, a packer (with the override permission) and an agent.
DEMO_USERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("admin", ("Admin",)),
    ("packer", ("Packer", "Pack Supervisor")),
    ("agent", ("Agent",)),
)


def save_secrets(values: dict[str, str]) -> None:
    path = STATE / "secrets.json"
    path.write_text(json.dumps(values, indent=2))
    path.chmod(0o600)


def load_secrets() -> dict[str, str]:
    path = STATE / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {
        "secret_key": secrets.token_urlsafe(32),
        "jwt_secret": secrets.token_urlsafe(32),
        "admin_password": secrets.token_urlsafe(12),
        "fernet_key": _fernet_key(),
    }
    STATE.mkdir(parents=True, exist_ok=True)
    save_secrets(values)
    return values


def _fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def sandbox_connections(mirakl_url: str | None = None, canadapost_url: str | None = None) -> dict[str, str]:
    """AIRFLOW_CONN_* values pointing the hooks at the sandbox, with its documented credentials."""
    from sandbox import testing as sandbox_defaults

    mirakl = {
        "conn_type": "mirakl",
        "host": mirakl_url or f"http://127.0.0.1:{MIRAKL_PORT}",
        "password": sandbox_defaults.DEFAULT_MIRAKL_API_KEY,
        "extra": {"shop_id": sandbox_defaults.DEFAULT_SHOP_ID},
    }
    canadapost = {
        "conn_type": "canadapost",
        "host": canadapost_url or f"http://127.0.0.1:{CANADAPOST_PORT}",
        "login": sandbox_defaults.DEFAULT_CANADAPOST_USER,
        "password": sandbox_defaults.DEFAULT_CANADAPOST_PASSWORD,
        "extra": {
            "customer_number": sandbox_defaults.DEFAULT_CANADAPOST_CUSTOMER_NUMBER,
            **sandbox_defaults.canadapost_conn_extras(None),
        },
    }
    return {
        "AIRFLOW_CONN_MIRAKL_DEFAULT": json.dumps(mirakl),
        "AIRFLOW_CONN_CANADAPOST_DEFAULT": json.dumps(canadapost),
    }


# The demo's Best Buy: 20 orders waiting at start, then 2 new orders and 1 customer message a minute.
DEMO_SANDBOX_ARGS: tuple[str, ...] = ("--orders", "20", "--order-rate", "2", "--message-rate", "1")


def sandbox_command(py: str, *, mirakl_port: int = MIRAKL_PORT, canadapost_port: int = CANADAPOST_PORT,
                    state_file: Path | None = STATE / "sandbox.json") -> list[str]:
    """The sandbox servers as `make run` starts them (tests/tools start the same with free ports)."""
    args = [py, "-m", "sandbox", "serve", "--host", "127.0.0.1",
            "--mirakl-port", str(mirakl_port), "--canadapost-port", str(canadapost_port), *DEMO_SANDBOX_ARGS]
    if state_file is not None:
        args += ["--state", str(state_file)]
    return args


def airflow_env(server: pg.Server, orderflow_db: str, airflow_db: str, keys: dict[str, str]) -> dict[str, str]:
    from tools.airflow_settings import COMMON_AIRFLOW_ENV

    env = dict(os.environ)
    env.update(COMMON_AIRFLOW_ENV)
    env.update(
        {
            "AIRFLOW_HOME": str(AIRFLOW_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # Default parallelism pre-forks 32 workers (~6 GiB RSS): a laptop wants a few.
            "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "4"),
            "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": server.url(airflow_db, "postgresql+psycopg2"),
            "AIRFLOW__API__SECRET_KEY": keys["secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{AIRFLOW_PORT}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{AIRFLOW_PORT}/execution/",
            "AIRFLOW_CONN_ORDERFLOW_DB": server.url(orderflow_db),
            "ORDERFLOW_DATABASE_URL": server.url(orderflow_db),
            "ORDERFLOW_LABEL_DIR": str(STATE / "labels"),
            # The connection form's Test button (Airflow disables it by default): on for this machine's demo.
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
        }
    )
    if USE_SANDBOX:
        env.update(sandbox_connections())
    return env


def run_step(args: list[str], env: dict[str, str], what: str) -> None:
    log(what)
    result = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"[orderflow] failed: {what}")


def unpause_when_parsed(airflow: str, env: dict[str, str]) -> None:
    """Unpause orderflow_core once the dag-processor has stored it, then start a first run."""
    for _ in range(60):
        result = subprocess.run([airflow, "dags", "unpause", "orderflow_core"], env=env, cwd=REPO,
                                capture_output=True, text=True)
        if result.returncode == 0:
            subprocess.run([airflow, "dags", "trigger", "orderflow_core"], env=env, cwd=REPO,
                           capture_output=True, text=True)
            log("orderflow_core unpaused and a first run triggered (then every 15 minutes)")
            # The Canada Post close of day runs at the cut-off (no run now: the day is not over).
            eod = subprocess.run([airflow, "dags", "unpause", "orderflow_end_of_day"], env=env, cwd=REPO,
                                 capture_output=True, text=True)
            if eod.returncode == 0:
                log("orderflow_end_of_day unpaused (runs at the Canada Post cut-off)")
            return
        time.sleep(5)
    log("could not unpause orderflow_core; unpause it in the UI")


def main() -> int:
    server, given_db = pg.ensure_server()
    orderflow_db = given_db or "orderflow"
    airflow_db = "airflow" if given_db != "airflow" else "airflow_meta"
    log(f"PostgreSQL ({server.origin}) at {server.host}:{server.port}")
    pg.create_database(server, orderflow_db)
    pg.create_database(server, airflow_db)
    keys = load_secrets()
    env = airflow_env(server, orderflow_db, airflow_db, keys)
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    py = str(VENV_BIN / "python")
    airflow = str(VENV_BIN / "airflow")

    run_step([py, "-m", "orderflow.db", "upgrade"], env, "migrating the orderflow database")
    run_step([airflow, "db", "migrate"], env, "migrating Airflow's metadata database (first time: ~10 s)")
    run_step([py, "-m", "orderflow.setup", "roles"], env, "creating roles Packer and Agent")
    new_users: list[tuple[str, str, str]] = []
    for username, roles in DEMO_USERS:
        password = keys.setdefault(f"{username}_password", secrets.token_urlsafe(12))
        role_args = [arg for role in roles for arg in ("--role", role)]
        created = subprocess.run(
            [py, "-m", "orderflow.setup", "user", "--username", username, *role_args,
             "--password", password, "--if-missing"],
            env=env, cwd=REPO, capture_output=True, text=True,
        )
        if created.returncode != 0:
            sys.stderr.write(created.stdout + created.stderr)
            raise SystemExit(f"[orderflow] failed: creating the user {username}")
        if ": created" in created.stdout:
            new_users.append((username, "+".join(roles), password))
    save_secrets(keys)

    # One way to start the stack (tools/cluster.py, as tests/cluster does): every process in its own
    # session, logs in .state/logs/<name>.log, stopped by process group.
    stack = cluster.Cluster(env=env, logs=LOGS, airflow=airflow)
    if EXECUTOR == "celery":
        # Same topology as tests/cluster: a private Redis, then one worker once the components run.
        stack.use_celery(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])  # updates env for every component
        log(f"CeleryExecutor: private redis-server on 127.0.0.1:{stack.redis_port}")
    elif EXECUTOR not in ("local", "localexecutor"):
        raise SystemExit(f"[orderflow] ORDERFLOW_EXECUTOR must be local or celery, not {EXECUTOR!r}")
    if USE_SANDBOX:
        run_step([py, "-m", "sandbox", "seed-catalog"], env, "loading the demo catalog into products")
        stack.spawn("sandbox", sandbox_command(py))
    stack.start_components(AIRFLOW_PORT, triggerer=True)
    if EXECUTOR == "celery":
        stack.start_worker("worker1")

    def shut_down() -> None:
        log("stopping ...")
        stack.stop(timeout=20)
        if server.origin == "private":
            pg.stop_private_server()
        log("stopped")

    def stop(*_: object) -> None:
        shut_down()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        stack.wait_for_http(f"http://127.0.0.1:{AIRFLOW_PORT}/api/v2/monitor/health", 120, "the Airflow api-server")
    except RuntimeError as exc:  # it did not come up, or a component died first: stop what was started
        shut_down()
        raise SystemExit(f"[orderflow] {exc}") from None

    if USE_SANDBOX:
        # Deployments start paused (tools/airflow_settings.py); the sandbox demo is the one place
        # where orders should start flowing by themselves, so the demo command unpauses it.
        threading.Thread(target=unpause_when_parsed, args=(airflow, env), daemon=True).start()

    base = f"http://127.0.0.1:{AIRFLOW_PORT}"
    print()
    log(f"Airflow UI         {base}/")
    for username, roles, password in new_users:
        log(f"user {username:<9} ({roles}) password {password}   (shown once; kept in {STATE / 'secrets.json'})")
    log(f"Packing station    {base}/orderflow/packing/")
    log(f"Inbox              {base}/orderflow/inbox/")
    log(f"Close the day      {base}/orderflow/close-day/")
    if USE_SANDBOX:
        log(f"Sandbox Best Buy   http://127.0.0.1:{MIRAKL_PORT}/__admin/state")
        log(f"Sandbox Canada Post http://127.0.0.1:{CANADAPOST_PORT}/__admin/state")
    log(f"logs in {LOGS}; Ctrl-C stops everything")
    while True:
        for process in stack.processes:
            if not process.alive():
                log(f"{process.name} exited with {process.popen.returncode}; see {process.log}")
                stop()
        time.sleep(2)


if __name__ == "__main__":
    raise SystemExit(main())
