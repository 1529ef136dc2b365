"""The Airflow settings every orderflow deployment shares: one list, two users.

``tools/run.py`` (``make run``: LocalExecutor on this machine) and ``docker-compose.yaml``
(CeleryExecutor, the ``x-airflow-common`` environment) both apply ``COMMON_AIRFLOW_ENV``
unchanged; ``tests/test_compose.py`` fails when the compose file drifts from it. What differs per
deployment (executor, database URLs, keys, URLs, folders, connections) is not here, but both must
set every name in ``PER_DEPLOYMENT_AIRFLOW_ENV``.
"""

from __future__ import annotations

FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"

COMMON_AIRFLOW_ENV: dict[str, str] = {
    # Users, roles (Packer, Agent) and the staff pages' permissions live in FAB.
    "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    # A new deployment never starts accepting orders or buying labels before someone unpauses it.
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    # Plugin pages (fastapi_apps) must be registered when the api-server starts.
    "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
}

# Set by each deployment with its own values (secrets, URLs, connections).
PER_DEPLOYMENT_AIRFLOW_ENV: tuple[str, ...] = (
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__BASE_URL",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW_CONN_ORDERFLOW_DB",
    "AIRFLOW_CONN_MIRAKL_DEFAULT",
    "AIRFLOW_CONN_CANADAPOST_DEFAULT",
    "ORDERFLOW_LABEL_DIR",
)
