#!/usr/bin/env bash
# Compares the executors on a fresh Airflow home (SQLite, the example DAGs), one Airflow version after the
# other: medians of N runs of each command started directly, through a gateway on the subprocess executor,
# through one on the warm executor without templates (warm_templates = False) and through one with them,
# with the ratios, and each command's floor (its own work in a warm process, bench/executors/floor.py);
# the throughput of 32 clients sending `variables get` for 30 s to each gateway; the resident memory of
# the warm gateway, its forkserver and its templates.
#
#   bench/executors.sh [N] [VERSION...]      (N = 20, both versions, by default)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-20}
shift || true
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(2.10 3)
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT

(cd "$top" && go build -o "$work/airflow-gateway" ./cmd/airflow-gateway && go build -o "$work/executors" ./bench/executors)
envfile=$("$top/testbed/setup.sh" "${versions[@]}")
token=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')

# start NAME EXECUTOR [TEMPLATES]: a gateway on the home; sets url and pid.
start() {
  cat > "$work/$1.cfg" <<CFG
[gateway]
listen = 127.0.0.1:0
airflow_bin = $airflow
airflow_home = $home
executor = $2
warm_templates = ${3:-True}

[rest_api_plugin]
rest_api_plugin_expected_http_token = $token
CFG
  "$work/airflow-gateway" serve --config "$work/$1.cfg" > "$work/$1.out" 2> "$work/$1.log" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 240); do grep -q listening "$work/$1.out" 2>/dev/null && break; sleep 0.5; done
  url=$(grep -o 'http://[^ ]*' "$work/$1.out")
}

for v in "${versions[@]}"; do
  airflow=$(grep "^AIRFLOW_GATEWAY_TEST_AIRFLOW_${v%%.*}=" "$envfile" | cut -d= -f2-)
  home=$work/home-$v
  "$top/testbed/home.sh" "$airflow" "$home" >/dev/null
  AIRFLOW_HOME=$home "$airflow" variables set gw_bench 42 >/dev/null 2>&1
  start warm-$v warm
  warm_url=$url warm_pid=$pid
  start plain-$v warm False
  plain_url=$url
  start subprocess-$v subprocess
  sub_url=$url
  for u in "$warm_url" "$plain_url"; do
    for _ in $(seq 240); do curl -sf "$u/health" | grep -q '"warm":true' && break; sleep 0.5; done
  done
  for _ in $(seq 240); do curl -sf "$warm_url/health" | grep -q '"templates"' && break; sleep 0.5; done
  runs="dags list-runs gw_conf"
  [ "${v%%.*}" = 2 ] && runs="dags list-runs -d gw_conf"
  echo
  echo "Airflow $("$airflow" version 2>/dev/null | tail -1), $(nproc) cores, medians of $n"
  "$work/executors" -airflow "$airflow" -home "$home" -token "$token" -n "$n" \
    -warm "$warm_url" -warm-pid "$warm_pid" -subprocess "$sub_url" -no-templates "$plain_url" -floor "$top/bench/executors/floor.py" \
    -commands "version|variables get gw_bench|pools list -o json|dags list -o json|dags details gw_conf|$runs"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
done
