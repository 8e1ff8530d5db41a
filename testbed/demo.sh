#!/usr/bin/env bash
# Starts a working demo: Airflow 3 in a local virtual environment, a SQLite metadata DB with the example
# DAGs, Airflow's API server on 127.0.0.1:8081 (its REST API, which the gateway serves behind its login),
# and the gateway on 127.0.0.1:8080 with a token it prints. Everything it makes is under .demo/.
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

# Airflow's API server, with one Airflow user per gateway role (the simple auth manager's users, their
# passwords kept in .demo), stopped when the demo stops.
if [ ! -f "$demo/airflow-users.ini" ]; then
  : > "$demo/airflow-users.ini"
  chmod 600 "$demo/airflow-users.ini"
  echo "{" > "$demo/passwords.json"
  for role in Admin Op User Viewer; do
    user=gw-$(echo "$role" | tr A-Z a-z) password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    printf '[%s]\nusername = %s\npassword = %s\n\n' "$role" "$user" "$password" >> "$demo/airflow-users.ini"
    printf '  "%s": "%s"%s\n' "$user" "$password" "$([ "$role" = Viewer ] || echo ,)" >> "$demo/passwords.json"
  done
  echo "}" >> "$demo/passwords.json"
  chmod 600 "$demo/passwords.json"
fi
AIRFLOW_HOME=$demo/airflow AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=gw-admin:admin,gw-op:op,gw-user:user,gw-viewer:viewer \
  AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$demo/passwords.json AIRFLOW__API__BASE_URL=http://127.0.0.1:8081 \
  AIRFLOW__API_AUTH__JWT_SECRET=$secret_key setsid "$airflow" api-server --port 8081 --host 127.0.0.1 --workers 1 \
  > "$demo/api-server.log" 2>&1 &
api=$!
trap 'kill -- -"$api" 2>/dev/null || true' EXIT

cat > "$demo/gateway.cfg" <<CFG
[gateway]
listen = 127.0.0.1:8080
airflow_bin = $airflow
airflow_home = $demo/airflow
secret_key = $secret_key

[airflow_api]
url = http://127.0.0.1:8081
users_file = $demo/airflow-users.ini

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

Airflow's REST API, behind the same token (Airflow 2's /api/v1 runs on this Airflow 3, translated):
  curl -H 'Authorization: Bearer $token' 'http://127.0.0.1:8080/api/v1/dags?limit=5'
  curl -H 'Authorization: Bearer $token' -X POST -H 'Content-Type: application/json' -d '{}' 'http://127.0.0.1:8080/api/v1/dags/gw_conf/dagRuns'
  curl -H 'Authorization: Bearer $token' 'http://127.0.0.1:8080/api/v1/dags/gw_conf/dagRuns'
  curl -H 'Authorization: Bearer $token' -X PATCH -H 'Content-Type: application/json' -d '{"is_paused": true}' 'http://127.0.0.1:8080/api/v1/dags/gw_conf?update_mask=is_paused'
  curl -H 'Authorization: Bearer $token' 'http://127.0.0.1:8080/api/v2/dags?limit=5'
  curl --user gw-viewer:PASSWORD 'http://127.0.0.1:8080/api/v1/dags'     (the passwords are in $demo/airflow-users.ini)

TXT
"$demo/airflow-gateway" serve --config "$demo/gateway.cfg"
