"""A task that always fails, to show how failures are reported."""
from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task


@dag(dag_id="gw_fails", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["gateway"])
def gw_fails():
    @task(retries=0)
    def boom():
        raise RuntimeError("this task fails on purpose")

    boom()


gw_fails()
