"""A DAG that Airflow's FAB auth manager lets one more role reach through DAG-level access_control, for the
tests of acting as a person: the role TeamA reads and edits gw_access, and no other DAG."""
from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task


@dag(dag_id="gw_access", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["gateway"],
     access_control={"TeamA": {"can_read", "can_edit"}})
def gw_access():
    @task
    def hello():
        print("hello")

    hello()


gw_access()
