"""Two tasks whose shells run in sessions of their own (Airflow starts a BashOperator's shell with setsid),
so that killing a command's process group misses them. Each shell starts a sleep and writes its own pid and
the sleep's to $GW_FAULT_PIDS, so the tests can tell whether they are gone. Stopped while the first task
runs, Airflow 3's `dags test` ends that task and starts the next."""
from datetime import datetime

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.bash import BashOperator

with DAG(dag_id="gw_sessions", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    for name in ("first", "second"):
        BashOperator(task_id=name, bash_command='sleep 60 & echo "$$ $!" >> "$GW_FAULT_PIDS"; wait')
