#!/usr/bin/env bash
# Load test: a gateway on a fresh Airflow home (SQLite, the example DAGs), then 200 clients sending
# `version` for 60 seconds. Prints answers by status, latency percentiles, the gateway's peak RSS and the
# Airflow processes left behind.
#
#   bench/load.sh [2|3] [CLIENTS] [DURATION]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
major=${1:-3} clients=${2:-200} duration=${3:-60s}
work=$(mktemp -d)
trap 'kill "$gw" 2>/dev/null || true; rm -rf "$work"' EXIT

envfile=$("$top/testbed/setup.sh" "$major")
airflow=$(grep "^AIRFLOW_GATEWAY_TEST_AIRFLOW_${major}=" "$envfile" | cut -d= -f2-)
"$top/testbed/home.sh" "$airflow" "$work/airflow" >/dev/null
token=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
cat > "$work/gateway.cfg" <<CFG
[gateway]
listen = 127.0.0.1:0
airflow_bin = $airflow
airflow_home = $work/airflow

[rest_api_plugin]
rest_api_plugin_expected_http_token = $token
CFG
(cd "$top" && go build -o "$work/airflow-gateway" ./cmd/airflow-gateway && go build -o "$work/load" ./bench/load)
"$work/airflow-gateway" serve --config "$work/gateway.cfg" > "$work/out" 2> "$work/log" &
gw=$!
for _ in $(seq 120); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.5; done
url=$(grep -o 'http://[^ ]*' "$work/out")
echo "gateway pid $gw on $url (Airflow $("$airflow" version 2>/dev/null | tail -1)), $(nproc) cores"
"$work/load" -url "$url" -token "$token" -clients "$clients" -duration "$duration" -pid "$gw" -airflow "$airflow"
