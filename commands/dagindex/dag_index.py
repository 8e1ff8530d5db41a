"""The gateway's DAG index, read from Airflow's metadata DB: every DAG's id, tags, owners, file and team, in
one query, which only reads. It prints one JSON document on stdout, and nothing else:

  {"dags": [{"id": "...", "tags": ["..."], "owners": ["..."], "file": "...", "bundle": "...",
             "relative_file": "...", "team": "..."}, ...]}

The gateway runs it in a child of the warm executor's forkserver, or with the Python of Airflow's
installation (`python -c SCRIPT airflow-gateway-dag-index`). It parses no DAG file: it imports Airflow's
models, as every command does, and reads their tables.

Every DAG the metadata DB holds is listed, those Airflow no longer finds in their file too (is_active false
on Airflow 2, is_stale on Airflow 3): their runs and tasks can still be read, cleared and deleted, so they
keep the tags and team they were last seen with until `dags delete` removes them. The team is that of the
DAG's bundle, on Airflow 3.2 and later with [core] multi_team; empty otherwise.
"""

import sys

if sys.path and sys.path[0] == "":
    # Run with -c: the working folder (AIRFLOW_HOME) leads the import path, where a file could stand in for
    # any module imported next. The airflow script runs without it; so does this.
    del sys.path[0]

import json  # noqa: E402
import os  # noqa: E402


def read():
    """The DAGs of the metadata DB, by id, from one SELECT."""
    from sqlalchemy import select

    from airflow import settings
    from airflow.configuration import conf
    from airflow.models.base import Base
    import airflow.models.dag  # noqa: F401  (declares the dag and dag_tag tables)

    multi_team = conf.getboolean("core", "multi_team", fallback=False)
    if multi_team:
        try:
            import airflow.models.team  # noqa: F401  (declares dag_bundle_team, from Airflow 3.2)
        except ImportError:
            multi_team = False
    tables = Base.metadata.tables
    dag, tag = tables["dag"], tables["dag_tag"]
    # Airflow 3 names a DAG's bundle and its file's path in the bundle, as its import errors name a file.
    located = "bundle_name" in dag.c and "relative_fileloc" in dag.c
    columns = [dag.c.dag_id, dag.c.owners, dag.c.fileloc, tag.c.name]
    if located:
        columns += [dag.c.bundle_name, dag.c.relative_fileloc]
    joined = dag.outerjoin(tag, tag.c.dag_id == dag.c.dag_id)
    # A bundle has at most one team (dag_bundle_team's unique index on the bundle's name), so the join adds
    # no row.
    bundle_team = tables.get("dag_bundle_team")
    team_at = None
    if multi_team and bundle_team is not None and "bundle_name" in dag.c:
        columns.append(bundle_team.c.team_name)
        team_at = len(columns) - 1
        joined = joined.outerjoin(bundle_team, bundle_team.c.dag_bundle_name == dag.c.bundle_name)
    if settings.engine is None:
        settings.configure_orm()
    dags = {}
    with settings.engine.connect() as connection:
        for row in connection.execute(select(*columns).select_from(joined)):
            dag_id, owners, fileloc, tag_name = row[:4]
            bundle, relative = (row[4], row[5]) if located else (None, None)
            entry = dags.get(dag_id)
            if entry is None:
                entry = dags[dag_id] = {
                    "id": dag_id,
                    "tags": [],
                    "owners": [o.strip() for o in (owners or "").split(",") if o.strip()],
                    "file": fileloc or "",
                    "bundle": bundle or "",
                    "relative_file": relative or "",
                    "team": (row[team_at] if team_at is not None else None) or "",
                }
            if tag_name is not None and tag_name not in entry["tags"]:
                entry["tags"].append(tag_name)
    for entry in dags.values():
        entry["tags"].sort()
    return [dags[k] for k in sorted(dags)]


def main():
    # The document goes to the stdout the process was given; whatever else prints there (Airflow's log
    # lines, warnings) goes to stderr.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(2, 1)
    dags = read()
    json.dump({"dags": dags}, out, ensure_ascii=False, separators=(",", ":"))
    out.write("\n")
    out.close()


if __name__ == "__main__":
    main()
