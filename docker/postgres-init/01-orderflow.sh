#!/usr/bin/env bash
# Runs once, when the postgres container initialises an empty data directory (the official
# image runs /docker-entrypoint-initdb.d/*.sh as $POSTGRES_USER, the Airflow metadata DB owner).
#
# Creates the orderflow database and its owner, and the two read-only login roles Grafana uses:
#   orderflow_grafana  on the orderflow DB (its grants: include/sql/migrations/005_grafana_role.sql)
#   airflow_grafana    on the Airflow DB (its grants: docker/airflow-grafana-grants.sql, applied by
#                      docker/airflow-init.sh once `airflow db migrate` has made the tables)
# Idempotent: every object is created only if missing, passwords are (re)set.
# Names can be overridden for tests (tests/test_compose.py runs this script against a real server).
set -euo pipefail

: "${ORDERFLOW_DB_PASSWORD:?ORDERFLOW_DB_PASSWORD must be set}"
: "${GRAFANA_ORDERFLOW_DB_PASSWORD:?GRAFANA_ORDERFLOW_DB_PASSWORD must be set}"
: "${GRAFANA_AIRFLOW_DB_PASSWORD:?GRAFANA_AIRFLOW_DB_PASSWORD must be set}"
ORDERFLOW_DB_NAME="${ORDERFLOW_DB_NAME:-orderflow}"
ORDERFLOW_DB_USER="${ORDERFLOW_DB_USER:-orderflow}"
GRAFANA_ORDERFLOW_ROLE="${GRAFANA_ORDERFLOW_ROLE:-orderflow_grafana}"
GRAFANA_AIRFLOW_ROLE="${GRAFANA_AIRFLOW_ROLE:-airflow_grafana}"
AIRFLOW_DB_NAME="${POSTGRES_DB:-airflow}"

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "$AIRFLOW_DB_NAME" \
    -v db="$ORDERFLOW_DB_NAME" -v owner="$ORDERFLOW_DB_USER" -v owner_pw="$ORDERFLOW_DB_PASSWORD" \
    -v g_order="$GRAFANA_ORDERFLOW_ROLE" -v g_order_pw="$GRAFANA_ORDERFLOW_DB_PASSWORD" \
    -v g_airflow="$GRAFANA_AIRFLOW_ROLE" -v g_airflow_pw="$GRAFANA_AIRFLOW_DB_PASSWORD" \
    -v airflow_db="$AIRFLOW_DB_NAME" <<'EOSQL'
SELECT format('CREATE ROLE %I', :'owner') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
ALTER ROLE :"owner" LOGIN PASSWORD :'owner_pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec

-- Grafana's logins: read-only, no other right (grants are made per table, see the header).
SELECT format('CREATE ROLE %I', :'g_order') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'g_order') \gexec
ALTER ROLE :"g_order" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'g_order_pw';
SELECT format('CREATE ROLE %I', :'g_airflow') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'g_airflow') \gexec
ALTER ROLE :"g_airflow" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'g_airflow_pw';

-- Who may connect where: nobody by default, then each login to its own database.
REVOKE CONNECT ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"owner", :"g_order";
REVOKE CONNECT ON DATABASE :"airflow_db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"airflow_db" TO :"g_airflow";
EOSQL
echo "orderflow: database ${ORDERFLOW_DB_NAME} and roles ${ORDERFLOW_DB_USER}, ${GRAFANA_ORDERFLOW_ROLE}, ${GRAFANA_AIRFLOW_ROLE} ready"
