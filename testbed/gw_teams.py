"""Two teams' DAGs, for the tests of scopes: team A's by id (team_a_*) and by tag (shared_metrics, tagged
team-a), team B's by tag (team-b)."""
from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task

TEAMS = {
    "team_a_extract": ["team-a"],
    "team_a_load": ["team-a"],
    "team_a_report": ["team-a"],
    "team_a_clean": ["team-a"],
    "shared_metrics": ["team-a", "metrics"],
    "team_b_extract": ["team-b"],
    "team_b_load": ["team-b"],
    "team_b_report": ["team-b"],
    "team_b_audit": ["team-b"],
    "b_sidecar": ["team-b"],
}


def team_dag(dag_id, tags):
    @dag(dag_id=dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=tags)
    def one():
        @task
        def step():
            print(f"{dag_id} ran")

        step()

    return one()


for dag_id, tags in TEAMS.items():
    globals()[dag_id] = team_dag(dag_id, tags)
