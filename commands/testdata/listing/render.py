"""Prints rows as Airflow's CLI prints a listing, in each of its output formats.

    python render.py ROWS.json... > OUT.json

Each ROWS.json holds a list of rows, as `airflow ... -o json` prints them. OUT.json maps each file's name
and format to what Airflow's own console (airflow.cli.simple_table.AirflowConsole) printed for its rows,
to standard output that is not a terminal, as the gateway runs Airflow.
"""
import contextlib
import io
import json
import os
import sys

from airflow.cli.simple_table import AirflowConsole

out = {}
for path in sys.argv[1:]:
    with open(path) as f:
        rows = json.load(f)
    name = os.path.basename(path)
    out[name] = {}
    for output in ("json", "yaml", "table", "plain"):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            AirflowConsole().print_as(data=rows, output=output)
        out[name][output] = buf.getvalue()
json.dump(out, sys.__stdout__)
