"""Not a DAG: a file whose parsing by Airflow waits while $GW_FAULT_PIDS.hold exists, after writing the pid
of the parsing process to $GW_FAULT_PIDS, so that the fault tests can hold a command (`dags list`) in the
middle of its work. Without the file it parses at once and defines nothing."""
import os
import time

pids = os.environ.get("GW_FAULT_PIDS", "")
if pids and os.path.exists(pids + ".hold"):
    with open(pids, "a") as f:
        f.write(f"{os.getpid()}\n")
    while os.path.exists(pids + ".hold"):
        time.sleep(0.05)
