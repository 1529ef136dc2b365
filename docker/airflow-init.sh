#!/usr/bin/env bash
# One-shot set-up run by the airflow-init service before any other Airflow container starts
# (they wait for it with `condition: service_completed_successfully`). Safe to run again.
set -euo pipefail

echo "== Secrets: no example or placeholder values"
python /opt/airflow/docker/check_secrets.py

echo "== Airflow metadata DB: migrate"
airflow db migrate

echo "== Grafana's read-only access to the metadata DB"
python /opt/airflow/docker/apply_sql.py "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" \
    /opt/airflow/docker/airflow-grafana-grants.sql

echo "== Admin user (FAB)"
if airflow users list --output plain 2>/dev/null | awk '{print $2}' | grep -qx "${_AIRFLOW_WWW_USER_USERNAME}"; then
    echo "user ${_AIRFLOW_WWW_USER_USERNAME} exists"
else
    airflow users create --role Admin \
        --username "${_AIRFLOW_WWW_USER_USERNAME}" --password "${_AIRFLOW_WWW_USER_PASSWORD}" \
        --firstname orderflow --lastname admin --email "${_AIRFLOW_WWW_USER_EMAIL:-admin@example.com}"
fi

echo "== orderflow DB: migrations"
python -m orderflow.db upgrade

echo "== FAB roles for the staff pages (Packer, Agent)"
python -m orderflow.setup roles

if [[ "${ORDERFLOW_SEED_CATALOG:-false}" == "true" ]]; then
    # Written by the sandbox service (sandbox profile; this service waits for it): the production image
    # has no sandbox/ to import, so the catalog arrives as a file.
    echo "== Demo catalog (sandbox products)"
    python -m orderflow.setup seed-catalog --file /opt/airflow/sandbox-state/demo-catalog.json
fi

echo "== Connections come from the environment: AIRFLOW_CONN_ORDERFLOW_DB, AIRFLOW_CONN_MIRAKL_DEFAULT, AIRFLOW_CONN_CANADAPOST_DEFAULT"
mkdir -p "${ORDERFLOW_LABEL_DIR:-/opt/airflow/labels}"
echo "orderflow init done"
