#!/usr/bin/env bash
# Load test: a gateway on a fresh Airflow home (SQLite, the example DAGs), then 200 clients sending
# `version` for 60 seconds. Prints answers by status, latency percentiles, the gateway's peak RSS and the
# Airflow processes left behind.
#
#   bench/load.sh [2|3] [CLIENTS] [DURATION]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
major=${1:-3} clients=${2:-200} duration=${3:-60s}
work=$(mktemp -d) gw=""
trap 'kill "$gw" 2>/dev/null || true; rm -rf "$work"' EXIT

. "$top/bench/lib.sh"
start_gateway "$major"
(cd "$top" && go build -o "$work/load" ./bench/load)
echo "gateway pid $gw on $url (Airflow $("$airflow" version 2>/dev/null | tail -1)), $(nproc) cores"
"$work/load" -url "$url" -token "$token" -clients "$clients" -duration "$duration" -pid "$gw" -airflow "$airflow"
