#!/usr/bin/env bash
# Installs the Airflow versions the tests run against, and schemathesis, which checks the gateway against
# its OpenAPI document, each into its own virtual environment built from a committed lock file, and writes
# an env file that names their binaries.
#
#   testbed/setup.sh [2.10] [3] [schemathesis] [airflow-client] [airflowctl]      (all when none is named)
#
# airflow-client is Airflow 2's official Python client (it speaks /api/v1), airflowctl Airflow 3's CLI over
# its REST API: real clients of the REST API that the gateway serves.
#
# Environments live in a cache outside the clone, keyed by the lock file's hash and the install options,
# so a second run takes seconds: $AIRFLOW_GATEWAY_CACHE, or ~/.cache/airflow-gateway. The env file is
# $CACHE/testbed.env. Packages are installed with their bytecode compiled, as pip does by default, so that
# Python does not compile Airflow from source on every start.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${AIRFLOW_GATEWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airflow-gateway}
mkdir -p "$cache"
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(2.10 3 schemathesis airflow-client airflowctl)

python=$(command -v python3.11 || command -v python3)
if ! command -v uv >/dev/null 2>&1; then
  "$python" -m pip install --quiet uv
fi
uv=$(command -v uv || echo "$python -m uv")

install_options="--compile-bytecode"
envfile=$cache/testbed.env
touch "$envfile"
for v in "${versions[@]}"; do
  lock=$here/lock-$v.txt
  [ -f "$lock" ] || { echo "no lock file for Airflow $v: $lock" >&2; exit 2; }
  hash=$( (cat "$lock"; echo "$install_options") | sha256sum | cut -c1-16)
  venv=$cache/venv-$v-$hash
  if [ ! -f "$venv/.complete" ]; then
    echo "installing $v into $venv" >&2
    rm -rf "$venv" # a half-built one, if an earlier run was stopped
    $uv venv --quiet --python "$python" "$venv"
    VIRTUAL_ENV=$venv $uv pip install --quiet $install_options -r "$lock"
    touch "$venv/.complete"
  fi
  if [ "$v" = schemathesis ]; then
    name=AIRFLOW_GATEWAY_TEST_SCHEMATHESIS bin=$venv/bin/schemathesis
  elif [ "$v" = airflow-client ]; then
    name=AIRFLOW_GATEWAY_TEST_AIRFLOW_CLIENT bin=$venv/bin/python
  elif [ "$v" = airflowctl ]; then
    name=AIRFLOW_GATEWAY_TEST_AIRFLOWCTL bin=$venv/bin/airflowctl
  else
    name=AIRFLOW_GATEWAY_TEST_AIRFLOW_${v%%.*} bin=$venv/bin/airflow
  fi
  grep -v "^$name=" "$envfile" > "$envfile.new" || true
  echo "$name=$bin" >> "$envfile.new"
  mv "$envfile.new" "$envfile"
  echo "$v: $bin" >&2
done
echo "$envfile"
