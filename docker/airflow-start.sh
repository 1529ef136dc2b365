#!/usr/bin/env bash
# Starts an Airflow component that holds the JWT secret (the api-server and the scheduler, the only
# two that sign or check Airflow's tokens) after refusing example or placeholder secrets.
#   command: ["bash", "/opt/airflow/docker/airflow-start.sh", "api-server", "--proxy-headers"]
set -euo pipefail
python /opt/airflow/docker/check_secrets.py
exec airflow "$@"
