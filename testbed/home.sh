#!/usr/bin/env bash
# Makes an AIRFLOW_HOME with the example DAGs and a migrated metadata DB, ready for `dags list`: a SQLite
# file in the home, or the database of SQL_ALCHEMY_CONN; and its own DAGs folder, or DAGS_FOLDER, which
# another home made (replicas share one).
#
#   testbed/home.sh AIRFLOW_BIN HOME [SQL_ALCHEMY_CONN [DAGS_FOLDER]]
#
# EXTRA_DAGS, a list of files separated by colons, adds DAG files to a home's own DAGs folder. With
# TEMPLATE_DB set, the SQLite metadata DB is a copy of that file, which an earlier run migrated with
# MIGRATE_ONLY=1 (a migrated DB and nothing else), instead of a migration of its own. AUTH_MANAGER names
# Airflow 3's [core] auth_manager, whose tables the migration makes too (the FAB provider's).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$1 home=$2
conn=${3:-sqlite:///$home/airflow.db}
dags=${4:-$home/dags}
mkdir -p "$home"
if [ -z "${4:-}" ]; then
  mkdir -p "$dags"
  cp "$here"/dags/*.py "$dags/"
  IFS=: read -ra extra <<<"${EXTRA_DAGS:-}"
  [ ${#extra[@]} -eq 0 ] || cp "${extra[@]}" "$dags/"
fi
cat > "$home/airflow.cfg" <<CFG
[core]
dags_folder = $dags
load_examples = False
unit_test_mode = False
${AUTH_MANAGER:+auth_manager = $AUTH_MANAGER}

[database]
sql_alchemy_conn = $conn

[logging]
base_log_folder = $home/logs
CFG
export AIRFLOW_HOME=$home
if [ -n "${TEMPLATE_DB:-}" ] && [ -z "${3:-}" ]; then
  cp "$TEMPLATE_DB" "$home/airflow.db"
else
  migrate=migrate
  "$bin" db migrate --help >/dev/null 2>&1 || migrate=upgrade # before Airflow 2.7
  "$bin" db $migrate >"$home/setup.log" 2>&1 || { cat "$home/setup.log" >&2; exit 1; }
fi
[ -z "${MIGRATE_ONLY:-}" ] || exit 0
"$bin" dags reserialize >>"$home/setup.log" 2>&1 || { cat "$home/setup.log" >&2; exit 1; }
