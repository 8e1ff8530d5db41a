"""A task that runs until it is stopped and prints as it goes, for the job tests. It starts a grandchild
that sleeps too, and writes its own pid and the grandchild's to gw_slow.pids in AIRFLOW_HOME, so that the
tests can tell whether they are gone. GW_SLOW_TICKS, when set, makes it end after that many ticks."""
import os
import subprocess
import time
from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task


@dag(dag_id="gw_slow", schedule=None, start_date=datetime(2024, 1, 1), catchup=False)
def gw_slow():
    @task
    def tick():
        child = subprocess.Popen(["sleep", "600"])
        with open(os.path.join(os.environ["AIRFLOW_HOME"], "gw_slow.pids"), "a") as f:
            f.write(f"{os.getpid()}\n{child.pid}\n")
        for i in range(int(os.environ.get("GW_SLOW_TICKS", "1200"))):
            print(f"tick {i}")
            time.sleep(0.5)

    tick()


gw_slow()
