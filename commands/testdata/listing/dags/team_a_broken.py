"""A DAG file of team_a that does not parse, so that Airflow lists it among its import errors."""
from airflow import DAG

with DAG(dag_id="team_a_broken", schedule=None) as dag:
    this line is not Python
