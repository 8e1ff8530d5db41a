"""Tasks that misbehave on purpose, for the warm executor's fault tests: one sleeps with a grandchild that
sleeps too, one floods stdout. Each writes its pids to $GW_FAULT_PIDS, so the tests can tell whether they
are gone."""
import os
import subprocess
import time
from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task


def record(*pids):
    with open(os.environ["GW_FAULT_PIDS"], "a") as f:
        for pid in pids:
            f.write(f"{pid}\n")


@dag(dag_id="gw_faults", schedule=None, start_date=datetime(2024, 1, 1), catchup=False)
def gw_faults():
    @task
    def hang():
        child = subprocess.Popen(["sleep", "600"])
        record(os.getpid(), child.pid)
        time.sleep(600)

    @task
    def flood():
        record(os.getpid())
        chunk = b"x" * (1 << 20)
        for _ in range(100):
            os.write(1, chunk)

    hang()
    flood()


gw_faults()
