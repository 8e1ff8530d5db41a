"""Eleven small DAGs of two teams, told apart by id prefix and by tag, for the scope tests.

team_a_* carry the tag team-a and team_b_* the tag team-b; shared_report carries both; two DAGs carry the
other team's tag than their prefix says, so that a scope by id and a scope by tag differ; ops_cleanup
carries no team at all.
"""
from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.empty import EmptyOperator

TEAMS = {
    "team_a_etl": ["team-a"],
    "team_a_report": ["team-a"],
    "team_a_clean": ["team-a"],
    "team_a_lent": ["team-b"],
    "team_b_etl": ["team-b"],
    "team_b_report": ["team-b"],
    "team_b_clean": ["team-b"],
    "team_b_lent": ["team-a"],
    "team_b_ml": ["team-b", "ml"],
    "shared_report": ["team-a", "team-b"],
    "ops_cleanup": [],
}

for dag_id, tags in TEAMS.items():
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=tags,
             default_args={"owner": dag_id.split("_")[0] + "_" + dag_id.split("_")[1] if dag_id.startswith("team_") else "ops"}) as dag:
        EmptyOperator(task_id="work")
    globals()[dag_id] = dag
