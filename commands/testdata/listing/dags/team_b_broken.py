"""A DAG file of team_b that fails as it is imported, with a message longer than a line of Airflow's tables."""
from airflow import DAG

raise RuntimeError(
    "the DAG team_b_broken reads its settings from a file that is missing, so it stops here; "
    "this message is long on purpose, so that a table of import errors has to wrap it across "
    "several lines, as a real traceback with a long message would be wrapped"
)
