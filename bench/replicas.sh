#!/usr/bin/env bash
# Throughput through the balancer against one replica alone, in one run: two gateways with the warm
# executor on one Airflow 3 whose metadata DB and jobs are in PostgreSQL (a server this script starts, as
# the user nobody when run as root), haproxy in front (testbed/haproxy.cfg); CLIENTS clients send
# `variables get` for DURATION to the balancer, then to replica a alone.
#
#   bench/replicas.sh [CLIENTS] [DURATION]      (64 clients, 60s)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
clients=${1:-64} duration=${2:-60s}
work=$(mktemp -d)
chmod 755 "$work"
pids=()
pgbin=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$pgbin" ] && as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# as_pg runs a PostgreSQL program as nobody when this script runs as root: the server refuses root.
as_pg() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pgbin=$("$top/testbed/postgres.sh")
haproxy=$("$top/testbed/debian.sh" haproxy haproxy)
. "$top/bench/lib.sh"
use_airflow 3
build_gateway
(cd "$top" && go build -o "$work/load" ./bench/load)

mkdir "$work/pg"
[ "$(id -u)" = 0 ] && chown nobody "$work/pg"
pgport=$(free_port)
as_pg "$pgbin/initdb" -D "$work/pg/data" -U gateway -A trust -E UTF8 --no-sync >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -w \
  -o "-p $pgport -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
for db in airflow jobs; do "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U gateway "$db"; done
conn=postgresql+psycopg2://gateway@127.0.0.1:$pgport/airflow
new_home "$work/home-a" "$conn"
new_home "$work/home-b" "$conn" "$work/home-a/dags"
AIRFLOW_HOME=$work/home-a "$airflow" variables set gw_bench 42 >/dev/null 2>&1

token=$(random_token)
secret=$(random_token)
# start NAME PORT: a warm gateway replica on home-NAME; waits until it is warm.
start() {
  home=$work/home-$1
  gateway_config "$work/$1.cfg" gateway.listen="127.0.0.1:$2" gateway.executor=warm gateway.secret_key="$secret" \
    jobs.database_url="postgres://gateway@127.0.0.1:$pgport/jobs?sslmode=disable"
  serve_gateway "$1" "$work/$1.cfg"
  pids+=("$gw")
  wait_warm "$url"
}
porta=$(free_port) portb=$(free_port) lbport=$(free_port)
start a "$porta"
start b "$portb"
sed -e "s/\${PORT}/$lbport/; s/\${REPLICA_A}/127.0.0.1:$porta/; s/\${REPLICA_B}/127.0.0.1:$portb/" \
  "$top/testbed/haproxy.cfg" > "$work/haproxy.cfg"
"$haproxy" -db -f "$work/haproxy.cfg" > "$work/haproxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$lbport/health" >/dev/null 2>&1 && break; sleep 0.2; done

echo "Airflow $("$airflow" version 2>/dev/null | tail -1) on PostgreSQL, $(nproc) cores, default slots (4 per replica)"
echo "through the balancer, two replicas:"
"$work/load" -url "http://127.0.0.1:$lbport" -token "$token" -clients "$clients" -duration "$duration" -command "variables get gw_bench"
echo "replica a alone:"
"$work/load" -url "http://127.0.0.1:$porta" -token "$token" -clients "$clients" -duration "$duration" -command "variables get gw_bench"
