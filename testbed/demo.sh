#!/usr/bin/env bash
# Starts a working demo: Airflow 3 in a local virtual environment, a SQLite metadata DB with the example
# DAGs, and the gateway on 127.0.0.1:8080 with a token it prints. Everything it makes is under .demo/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
demo=$top/.demo
mkdir -p "$demo"

envfile=$("$top/testbed/setup.sh" 3)
airflow=$(grep '^AIRFLOW_GATEWAY_TEST_AIRFLOW_3=' "$envfile" | cut -d= -f2-)

if [ ! -f "$demo/airflow/airflow.db" ]; then
  echo "initialising Airflow in $demo/airflow (a migrated SQLite DB and the example DAGs)" >&2
  "$top/testbed/home.sh" "$airflow" "$demo/airflow"
fi
[ -f "$demo/token" ] || head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$demo/token"
token=$(cat "$demo/token")
# secret_key signs the sessions and the minted tokens (POST /api/v1/tokens): kept, so both survive a restart.
[ -f "$demo/secret_key" ] || head -c 32 /dev/urandom | base64 | tr -d '/+=' > "$demo/secret_key"
secret_key=$(cat "$demo/secret_key")

cat > "$demo/gateway.cfg" <<CFG
[gateway]
listen = 127.0.0.1:8080
airflow_bin = $airflow
airflow_home = $demo/airflow
secret_key = $secret_key

[rest_api_plugin]
rest_api_plugin_expected_http_token = $token
CFG
chmod 600 "$demo/gateway.cfg"

(cd "$top" && go build -o "$demo/airflow-gateway" ./cmd/airflow-gateway)

cat <<TXT

Token: $token

Open the admin page in a browser: http://127.0.0.1:8080/login?token=$token

Or try:
  curl -H 'Authorization: Bearer $token' 'http://127.0.0.1:8080/api/v1/command?command=version'
  curl -H 'Authorization: Bearer $token' 'http://127.0.0.1:8080/api/v1/command?command=dags%20list%20-o%20json'
  curl -H 'Authorization: Bearer $token' 'http://127.0.0.1:8080/api/v1/command' --data-urlencode "command=dags trigger gw_conf -c '{\\"key\\": \\"value\\"}'"
  curl -H 'Authorization: Bearer $token' 'http://127.0.0.1:8080/api/v1/commands'
  curl -H 'rest_api_plugin_http_token: $token' 'http://127.0.0.1:8080/admin/rest_api/api?api=list_dags'
  curl -sS -X POST -H 'Authorization: Bearer $token' -H 'Content-Type: text/plain' --data-raw 'dags list' 'http://127.0.0.1:8080/aws_mwaa/cli' | jq -r .stdout | base64 --decode
  curl -X POST -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' -d '{"ttl": "2h", "role": "Viewer"}' 'http://127.0.0.1:8080/api/v1/tokens'
  curl 'http://127.0.0.1:8080/health'

TXT
exec "$demo/airflow-gateway" serve --config "$demo/gateway.cfg"
