#!/usr/bin/env bash
# What the metrics cost: the throughput of GET /api/v1/commands under wrk with the metrics on and off
# ([metrics] enabled), alternating gateways so drift hits both alike, and the time of a /metrics scrape.
# A gateway on a fresh Airflow 3 home with the subprocess executor (the endpoint runs no command).
#
#   bench/metrics.sh [ROUNDS] [DURATION] [CONNECTIONS]      (2 rounds of 20s, 32 connections)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-2} duration=${2:-20s} connections=${3:-32}
work=$(mktemp -d)
gw=""
trap '[ -n "$gw" ] && kill "$gw" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

wrk=$("$top/testbed/debian.sh" wrk wrk)
. "$top/bench/lib.sh"
use_airflow 3
new_home "$work/airflow"
build_gateway
token=$(random_token)

# start ENABLED: a gateway with [metrics] enabled = ENABLED; sets url and gw.
start() {
  gateway_config "$work/gateway.cfg" gateway.executor=subprocess metrics.enabled="$1"
  serve_gateway gateway "$work/gateway.cfg"
}
stop() { kill "$gw"; wait "$gw" 2>/dev/null || true; gw=""; }

# load: requests per second of GET /api/v1/commands, after a 3 s warm-up.
load() {
  "$wrk" -t2 -c"$connections" -d3s -H "Authorization: Bearer $token" "$url/api/v1/commands" >/dev/null
  "$wrk" -t2 -c"$connections" -d"$duration" -H "Authorization: Bearer $token" "$url/api/v1/commands" |
    awk '/Requests\/sec/ {print $2}'
}

echo "GET /api/v1/commands, wrk -t2 -c$connections -d$duration, $(nproc) cores, $rounds rounds"
on=() off=()
for r in $(seq "$rounds"); do
  start True; on+=("$(load)")
  if [ "$r" = "$rounds" ]; then
    series=$(curl -sf -H "Authorization: Bearer $token" "$url/metrics" | grep -vc '^#')
    scrape=$(for _ in $(seq 200); do curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token" "$url/metrics"; done |
      sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int(NR/2)+1]*1000}')
  fi
  stop
  start False; off+=("$(load)")
  stop
  echo "round $r: metrics on ${on[-1]} req/s, off ${off[-1]} req/s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mon=$(median "${on[@]}") moff=$(median "${off[@]}")
awk -v on="$mon" -v off="$moff" 'BEGIN {printf "median: on %.0f req/s, off %.0f req/s: the metrics cost %.1f%% of the throughput\n", on, off, (1-on/off)*100}'
echo "/metrics after the load: $series series, median of 200 scrapes over HTTP ${scrape} ms"
