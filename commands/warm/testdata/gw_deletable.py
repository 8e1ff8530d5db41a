"""Two DAGs that the executors' equivalence test deletes, one through each executor."""
from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

for name in ("gw_del_cold", "gw_del_warm"):
    with DAG(dag_id=name, schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
        pass
    globals()[name] = dag
