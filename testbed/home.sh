#!/usr/bin/env bash
# Makes an AIRFLOW_HOME with a SQLite metadata DB and the example DAGs, ready for `dags list`.
#
#   testbed/home.sh AIRFLOW_BIN HOME
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$1 home=$2
mkdir -p "$home/dags"
cp "$here"/dags/*.py "$home/dags/"
cat > "$home/airflow.cfg" <<CFG
[core]
dags_folder = $home/dags
load_examples = False
unit_test_mode = False

[database]
sql_alchemy_conn = sqlite:///$home/airflow.db

[logging]
base_log_folder = $home/logs
CFG
export AIRFLOW_HOME=$home
"$bin" db migrate >"$home/setup.log" 2>&1 || { cat "$home/setup.log" >&2; exit 1; }
"$bin" dags reserialize >>"$home/setup.log" 2>&1 || { cat "$home/setup.log" >&2; exit 1; }
