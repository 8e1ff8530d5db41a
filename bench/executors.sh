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

. "$top/bench/lib.sh"
build_gateway
(cd "$top" && go build -o "$work/executors" ./bench/executors)
token=$(random_token)

for v in "${versions[@]}"; do
  use_airflow "$v"
  new_home "$work/home-$v"
  AIRFLOW_HOME=$home "$airflow" variables set gw_bench 42 >/dev/null 2>&1
  gateway_config "$work/warm-$v.cfg" gateway.executor=warm
  serve_gateway "warm-$v" "$work/warm-$v.cfg"
  pids+=("$gw")
  warm_url=$url warm_pid=$gw
  gateway_config "$work/plain-$v.cfg" gateway.executor=warm gateway.warm_templates=False
  serve_gateway "plain-$v" "$work/plain-$v.cfg"
  pids+=("$gw")
  plain_url=$url
  gateway_config "$work/subprocess-$v.cfg" gateway.executor=subprocess
  serve_gateway "subprocess-$v" "$work/subprocess-$v.cfg"
  pids+=("$gw")
  sub_url=$url
  wait_warm "$warm_url"
  wait_warm "$plain_url"
  wait_health "$warm_url" '"templates"'
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
