"""A DAG that the executors' equivalence test deletes."""
from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

with DAG(dag_id="gw_del_eq", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as gw_del_eq:
    pass
