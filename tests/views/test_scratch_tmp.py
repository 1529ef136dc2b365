def test_scratch(airflow_db):
    import sqlalchemy as sa, os
    eng = sa.create_engine(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    names = sa.inspect(eng).get_table_names()
    print(sorted(n for n in names if n.startswith("ab_")), len(names))
