-- Read-only access of Grafana's "Airflow metadata DB" data source (role airflow_grafana, created
-- with LOGIN by docker/postgres-init/01-orderflow.sh). Run by docker/airflow-init.sh after every
-- `airflow db migrate`, because the tables only exist after it (and a migration may recreate one).
-- SELECT on exactly what grafana/dashboards/airflow.json and the alert rules read: never on
-- connection, variable or the FAB user tables.
GRANT USAGE ON SCHEMA public TO airflow_grafana;
GRANT SELECT ON dag_run, task_instance, task_instance_history TO airflow_grafana;
