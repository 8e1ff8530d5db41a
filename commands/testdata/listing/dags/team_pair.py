"""Two DAGs of two teams in one file, for the listings that name a file rather than a DAG."""
from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.empty import EmptyOperator

for team in ("a", "b"):
    with DAG(dag_id=f"team_{team}_report", schedule=None, start_date=datetime(2024, 1, 1), tags=[f"team-{team}"],
             default_args={"owner": f"team_{team}"}) as dag:
        EmptyOperator(task_id="report")
    globals()[f"dag_{team}"] = dag
