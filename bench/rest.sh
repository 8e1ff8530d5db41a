#!/usr/bin/env bash
# Airflow's REST API straight and through the gateway, side by side in one run, on Airflow 3: the API
# server on a fresh home with a user of role admin, a gateway in front of it acting as that user, the
# standard library's reverse proxy alone beside it (bench/bareproxy), then bench/rest's N sequential calls
# each of
#   direct-v2   GET /api/v2/dags/gw_conf on the API server, with the user's JWT
#   bare-v2     the same through the bare reverse proxy, with the same JWT
#   gateway-v2  the same through the gateway, with a gateway token
#   gateway-v1  GET /api/v1/dags/gw_conf through the gateway, translated to the call above and back
# and the ratios the goals name (proxied ≤ 1.10x straight, translated ≤ 1.20x proxied at the median), and the
# CPU time per call of the bare proxy and of the gateway, each measured over its own calls.
#
#   bench/rest.sh [N]      (200)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-200}
work=$(mktemp -d) gw="" api="" bare=""
trap 'kill "$gw" "$bare" 2>/dev/null || true; [ -n "$api" ] && kill -- -"$api" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT

. "$top/bench/lib.sh"
use_airflow 3
new_home "$work/airflow"
token=$(random_token)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo '{"gw-admin": "pw-admin"}' > "$home/passwords.json"
AIRFLOW_HOME=$home AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=gw-admin:admin \
  AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$home/passwords.json AIRFLOW__API_AUTH__JWT_SECRET=bench-jwt-secret \
  AIRFLOW__API__BASE_URL=http://127.0.0.1:$port setsid "$airflow" api-server --port "$port" --host 127.0.0.1 --workers 1 \
  > "$work/api.log" 2>&1 &
api=$!
for _ in $(seq 240); do curl -fs "http://127.0.0.1:$port/api/v2/monitor/health" >/dev/null && break; sleep 0.5; done
jwt=$(curl -fsS -X POST -H 'Content-Type: application/json' -d '{"username": "gw-admin", "password": "pw-admin"}' \
  "http://127.0.0.1:$port/auth/token" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

printf '[Admin]\nusername = gw-admin\npassword = pw-admin\n' > "$work/users.ini"
chmod 600 "$work/users.ini"
build_gateway
gateway_config "$work/gateway.cfg" gateway.executor=subprocess airflow_api.url="http://127.0.0.1:$port" airflow_api.users_file="$work/users.ini"
serve_gateway gateway "$work/gateway.cfg"
echo "Airflow $("$airflow" version 2>/dev/null | tail -1), API server on :$port, gateway on $url, $(nproc) cores, $n calls each"

(cd "$top" && go build -o "$work/bareproxy" ./bench/bareproxy && go build -o "$work/rest" ./bench/rest)
"$work/bareproxy" -upstream "http://127.0.0.1:$port" > "$work/bare.out" &
bare=$!
for _ in $(seq 50); do [ -s "$work/bare.out" ] && break; sleep 0.1; done
"$work/rest" -n "$n" \
  "direct-v2=http://127.0.0.1:$port/api/v2/dags/gw_conf|Bearer $jwt" \
  "bare-v2=$(cat "$work/bare.out")/api/v2/dags/gw_conf|Bearer $jwt|$bare" \
  "gateway-v2=$url/api/v2/dags/gw_conf|Bearer $token|$gw" \
  "gateway-v1=$url/api/v1/dags/gw_conf|Bearer $token|$gw"
