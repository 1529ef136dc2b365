# orderflow's Airflow image: the official image plus our lock file (docker-compose.yaml builds it).
# The lock (requirements.txt) pins apache-airflow==3.3.2 itself, so pip keeps the image's Airflow
# and aligns every other package with what the test suite ran against. Python 3.11, as the lock.
FROM apache/airflow:3.3.2-python3.11

# pip must run as the airflow user in this image (it refuses root installs into the airflow venv).
USER airflow
COPY --chown=airflow:root requirements.txt /opt/orderflow/requirements.txt
RUN pip install --no-cache-dir -r /opt/orderflow/requirements.txt

# dags/, plugins/, include/ and sandbox/ are mounted by docker-compose.yaml (so an edit needs no
# rebuild); copying them as well makes the image usable without the mounts.
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/
COPY --chown=airflow:root sandbox/ /opt/airflow/sandbox/
COPY --chown=airflow:root docker/ /opt/airflow/docker/

# Named volumes start as copies of these folders, so they are writable by the airflow user.
RUN mkdir -p /opt/airflow/labels /opt/airflow/sandbox-state \
    && chmod -R g+rwX /opt/airflow/labels /opt/airflow/sandbox-state

ENV PYTHONPATH=/opt/airflow/plugins:/opt/airflow \
    ORDERFLOW_SQL_DIR=/opt/airflow/include/sql \
    ORDERFLOW_LABEL_DIR=/opt/airflow/labels
