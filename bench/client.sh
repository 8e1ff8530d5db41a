#!/usr/bin/env bash
# The remote CLI against the local one: a warm gateway on a fresh Airflow home, then N runs each of
# `airflow-gateway run -- version` (a process of its own, end to end through HTTP), of the local
# `airflow version` on the same home, and of `airflow-gateway version` (the client's own start, no
# network). Prints each one's median and the ratio.
#
#   bench/client.sh [2|3] [N]      (3, 20)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
major=${1:-3} n=${2:-20}
work=$(mktemp -d) gw=""
trap 'kill "$gw" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT

. "$top/bench/lib.sh"
start_gateway "$major" warm
echo "gateway on $url (Airflow $("$airflow" version 2>/dev/null | tail -1)), warm, $(nproc) cores, $n runs each"

# median NAME COMMAND...: runs the command n times and prints its median wall time in milliseconds.
median() {
  local name=$1; shift
  local times=()
  for _ in $(seq "$n"); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" > /dev/null 2>&1
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
  done
  local m
  m=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
  printf '%-40s median %8.1f ms\n' "$name" "$(awk -v m="$m" 'BEGIN { print m / 1000 }')" >&2
  echo "$m"
}
export AIRFLOW_GATEWAY_URL=$url AIRFLOW_GATEWAY_TOKEN=$token XDG_CONFIG_HOME=$work
remote=$(median "airflow-gateway run -- version" "$work/airflow-gateway" run -- version)
local_=$(AIRFLOW_HOME=$work/airflow median "airflow version (local)" "$airflow" version)
start=$(median "airflow-gateway version (client start)" "$work/airflow-gateway" version)
echo "local/remote: $(awk -v a="$local_" -v b="$remote" 'BEGIN { printf "%.1f", a / b }')x; the client's own start is $(awk -v a="$start" -v b="$remote" 'BEGIN { printf "%.0f", 100 * a / b }')% of a remote run"
