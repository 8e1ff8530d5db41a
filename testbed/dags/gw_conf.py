"""Prints the conf it was triggered with."""
from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import dag, task, get_current_context
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task
    from airflow.operators.python import get_current_context


@dag(dag_id="gw_conf", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["gateway"])
def gw_conf():
    @task
    def show_conf():
        conf = get_current_context()["dag_run"].conf or {}
        print(f"conf: {conf}")

    show_conf()


gw_conf()
