"""Example DAGs of the provider: shipped in the wheel as docs, run by its tests on Airflow 2 and 3."""
