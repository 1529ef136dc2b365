# orderflow's images (docker-compose.yaml builds both): the official Airflow image plus our lock file.
# The lock (requirements.txt) pins apache-airflow==3.3.2 itself, so pip keeps the image's Airflow
# and aligns every other package with what the test suite ran against. Python 3.11, as the lock.
#   target orderflow (the default, last stage): Airflow with the DAGs, the plugin and the SQL; no sandbox
#   target sandbox: the sandbox Best Buy (Mirakl) and Canada Post servers only (compose's sandbox profile)
FROM apache/airflow:3.3.2-python3.11 AS base

# pip must run as the airflow user in this image (it refuses root installs into the airflow venv).
USER airflow
COPY --chown=airflow:root requirements.txt /opt/orderflow/requirements.txt
RUN pip install --no-cache-dir -r /opt/orderflow/requirements.txt
# Named volumes start as copies of these folders, so they are writable by the airflow user (both
# images mount sandbox-state: the sandbox writes its state and the demo catalog, airflow-init reads it).
RUN mkdir -p /opt/airflow/sandbox-state && chmod -R g+rwX /opt/airflow/sandbox-state

# The sandbox imports nothing from plugins/ (tests/test_structure.py): it needs the lock's libraries only.
FROM base AS sandbox
COPY --chown=airflow:root sandbox/ /opt/airflow/sandbox/
ENV PYTHONPATH=/opt/airflow

# Production never imports sandbox/ or bench/, and this image does not ship them.
FROM base AS orderflow
# dags/, plugins/ and include/ are mounted by docker-compose.yaml (so an edit needs no rebuild);
# copying them as well makes the image usable without the mounts.
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/
COPY --chown=airflow:root docker/ /opt/airflow/docker/

RUN mkdir -p /opt/airflow/labels && chmod -R g+rwX /opt/airflow/labels

ENV PYTHONPATH=/opt/airflow/plugins:/opt/airflow \
    ORDERFLOW_SQL_DIR=/opt/airflow/include/sql \
    ORDERFLOW_LABEL_DIR=/opt/airflow/labels
