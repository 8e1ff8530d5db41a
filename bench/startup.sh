#!/usr/bin/env bash
# The gateway's start-up time, from `airflow-gateway serve` to the line that says it listens, on a fresh
# Airflow home: medians of N starts with a cold catalog cache (the cache folder removed before each), with a
# warm one, and of the gateway built from BASE (a git ref: by default 34cec53, the last whose gateway carried
# its catalogs and asked `airflow version` at start) for comparison, one after the
# other in turn, with the ratios. The gateways run the subprocess executor, so that no forkserver warms up
# beside the next start.
#
#   bench/startup.sh [N] [VERSION] [BASE]      (N = 7, VERSION = 3, BASE = 34cec53 by default)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-7} version=${2:-3} base=${3:-34cec53}
work=$(mktemp -d)
trap 'kill "$gw" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
gw=

. "$top/bench/lib.sh"
build_gateway
mkdir "$work/base"
git -C "$top" archive "$base" | tar -x -C "$work/base"
(cd "$work/base" && go build -o "$work/airflow-gateway-base" ./cmd/airflow-gateway)
use_airflow "$version"
new_home "$work/airflow"
token=$(random_token)
gateway_config "$work/gateway.cfg" gateway.executor=subprocess gateway.state_dir="$work/state"

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# start BINARY prints how long BINARY took from its start to listening, then stops it.
start() {
  local t0 t1
  : > "$work/out"
  t0=$(now)
  "$1" serve --config "$work/gateway.cfg" > "$work/out" 2> "$work/log" &
  gw=$!
  until grep -q listening "$work/out"; do
    kill -0 "$gw" 2>/dev/null || { echo "the gateway did not start:" >&2; cat "$work/log" >&2; exit 1; }
    sleep 0.01
  done
  t1=$(now)
  kill "$gw"
  wait "$gw" 2>/dev/null || true
  awk "BEGIN {printf \"%.3f\", $t1 - $t0}"
}

cold=() warm=() old=()
for _ in $(seq "$n"); do
  rm -rf "$work/state/catalog"
  cold+=("$(start "$work/airflow-gateway")")
  warm+=("$(start "$work/airflow-gateway")")
  old+=("$(start "$work/airflow-gateway-base")")
done
c=$(printf '%s\n' "${cold[@]}" | median)
w=$(printf '%s\n' "${warm[@]}" | median)
o=$(printf '%s\n' "${old[@]}" | median)
echo "Airflow $("$airflow" version 2>/dev/null | tail -1), median of $n starts each"
echo "cold catalog cache:   ${c}s (${cold[*]})"
echo "warm catalog cache:   ${w}s (${warm[*]})"
echo "$base:$(printf '%*s' $((17 - ${#base})) '')${o}s (${old[*]})"
echo "cold / $base:          $(awk "BEGIN {printf \"%.2f (%+.2fs)\", $c / $o, $c - $o}")"
echo "warm / $base:          $(awk "BEGIN {printf \"%.2f (%+.2fs)\", $w / $o, $w - $o}")"
