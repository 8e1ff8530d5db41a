"""A task whose log is large: 100,000 numbered lines of about 100 bytes, some 10 MB, for the tests that read
task logs through the gateway."""
from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task


@dag(dag_id="gw_big_log", schedule=None, start_date=datetime(2024, 1, 1), catchup=False)
def gw_big_log():
    @task
    def talk():
        for i in range(100_000):
            print(f"line {i:06d} " + "x" * 88)
        print("the end of the big log")

    talk()


gw_big_log()
