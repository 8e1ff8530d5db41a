"""Two tasks in a row: the smallest DAG with a dependency. Daily, so that it can be backfilled."""
from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task


@dag(dag_id="gw_two_tasks", schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False, tags=["gateway"])
def gw_two_tasks():
    @task
    def extract():
        print("extracted 3 rows")
        return 3

    @task
    def load(rows: int):
        print(f"loaded {rows} rows")

    load(extract())


gw_two_tasks()
