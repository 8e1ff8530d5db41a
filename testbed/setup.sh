#!/usr/bin/env bash
# Installs the Airflow versions the tests run against, and schemathesis, which checks the gateway against
# its OpenAPI document, each into its own virtual environment built from a committed lock file, and writes
# an env file that names their binaries.
#
#   testbed/setup.sh [2.10] [3] [3-fab] [2.6] [2.11] [3.0] [schemathesis] [airflow-client] [airflowctl]
#
# With none named, it installs them all. 2.10 and 3 are the Airflow versions the full suites run against,
# named by their major version in the env file (AIRFLOW_GATEWAY_TEST_AIRFLOW_2, _3); 2.6, 2.11 and 3.0 are
# those of the smoke suite, named in full (AIRFLOW_GATEWAY_TEST_AIRFLOW_2_6, _2_11, _3_0) and installed
# side by side, each into its own environment, as uv's cache is safe to share between installs. 3-fab is
# Airflow 3 with the FAB provider, whose auth manager Airflow 3 does not install by default, for the tests of
# acting as a person on Airflow (AIRFLOW_GATEWAY_TEST_AIRFLOW_3_FAB).
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
[ ${#versions[@]} -gt 0 ] || versions=(2.10 3 3-fab 2.6 2.11 3.0 schemathesis airflow-client airflowctl)
# Each name once, so that no environment is built twice at the same time.
mapfile -t versions < <(printf '%s\n' "${versions[@]}" | awk '!seen[$0]++')

python=$(command -v python3.11 || command -v python3)
if ! command -v uv >/dev/null 2>&1; then
  "$python" -m pip install --quiet uv
fi
uv=$(command -v uv || echo "$python -m uv")

install_options="--compile-bytecode"
envfile=$cache/testbed.env
touch "$envfile"
for v in "${versions[@]}"; do
  [ -f "$here/lock-$v.txt" ] || { echo "no lock file for $v: $here/lock-$v.txt" >&2; exit 2; }
done

# venv_of prints the folder of the environment of v in the cache.
venv_of() {
  local hash
  hash=$( (cat "$here/lock-$1.txt"; echo "$install_options") | sha256sum | cut -c1-16)
  echo "$cache/venv-$1-$hash"
}

# install builds the environment of v, unless the cache has it.
install() {
  local v=$1 venv
  venv=$(venv_of "$v")
  if [ ! -f "$venv/.complete" ]; then
    echo "installing $v into $venv" >&2
    rm -rf "$venv" # a half-built one, if an earlier run was stopped
    $uv venv --quiet --python "$python" "$venv"
    VIRTUAL_ENV=$venv $uv pip install --quiet $install_options -r "$here/lock-$v.txt"
    touch "$venv/.complete"
  fi
}

# The smoke versions first, side by side; then the others, one after another.
smoke=()
for v in "${versions[@]}"; do
  case $v in 2.6|2.11|3.0) install "$v" & smoke+=($!) ;; esac
done
failed=0
for pid in "${smoke[@]}"; do wait "$pid" || failed=1; done
[ $failed = 0 ] || { echo "installing a smoke version failed: see above" >&2; exit 1; }

for v in "${versions[@]}"; do
  install "$v"
  venv=$(venv_of "$v")
  case $v in
    schemathesis) name=AIRFLOW_GATEWAY_TEST_SCHEMATHESIS bin=$venv/bin/schemathesis ;;
    airflow-client) name=AIRFLOW_GATEWAY_TEST_AIRFLOW_CLIENT bin=$venv/bin/python ;;
    airflowctl) name=AIRFLOW_GATEWAY_TEST_AIRFLOWCTL bin=$venv/bin/airflowctl ;;
    2.10|3) name=AIRFLOW_GATEWAY_TEST_AIRFLOW_${v%%.*} bin=$venv/bin/airflow ;;
    3-fab) name=AIRFLOW_GATEWAY_TEST_AIRFLOW_3_FAB bin=$venv/bin/airflow ;;
    *) name=AIRFLOW_GATEWAY_TEST_AIRFLOW_${v//./_} bin=$venv/bin/airflow ;;
  esac
  grep -v "^$name=" "$envfile" > "$envfile.new" || true
  echo "$name=$bin" >> "$envfile.new"
  mv "$envfile.new" "$envfile"
  echo "$v: $bin" >&2
done
echo "$envfile"
