#!/usr/bin/env bash
# The MWAA dialect against the command dialect: one warm gateway on a fresh Airflow home, then rounds in
# which bench/load sends `version` through each dialect in turn (CLIENTS clients, DURATION each). Prints
# each run and, per round and over all rounds, the time per answer of the MWAA dialect over the command
# dialect's (rounds alternate, so that a slower stretch of the machine falls on both).
#
#   bench/mwaa.sh [2|3] [ROUNDS] [CLIENTS] [DURATION]      (3, 3 rounds, 4 clients, 15s)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
major=${1:-3} rounds=${2:-3} clients=${3:-4} duration=${4:-15s}
work=$(mktemp -d) gw=""
trap 'kill "$gw" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT

. "$top/bench/lib.sh"
start_gateway "$major" warm
(cd "$top" && go build -o "$work/load" ./bench/load)
echo "gateway pid $gw on $url (Airflow $("$airflow" version 2>/dev/null | tail -1)), warm, $(nproc) cores"
rate() { grep -o '([0-9.]* per second)' | grep -o '[0-9.]*' | head -1; }
all_cmd=0 all_mw=0
for round in $(seq "$rounds"); do
  cmd=$("$work/load" -url "$url" -token "$token" -clients "$clients" -duration "$duration" -dialect command | tee /dev/stderr | rate)
  mw=$("$work/load" -url "$url" -token "$token" -clients "$clients" -duration "$duration" -dialect mwaa | tee /dev/stderr | rate)
  echo "round $round: command $cmd/s, MWAA $mw/s, time per answer MWAA/command $(awk -v a="$cmd" -v b="$mw" 'BEGIN { printf "%.3f", a / b }')"
  all_cmd=$(awk -v a="$all_cmd" -v b="$cmd" 'BEGIN { print a + b }') all_mw=$(awk -v a="$all_mw" -v b="$mw" 'BEGIN { print a + b }')
done
echo "all rounds: time per answer MWAA/command $(awk -v a="$all_cmd" -v b="$all_mw" 'BEGIN { printf "%.3f", a / b }')"
