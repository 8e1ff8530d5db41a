# Sourced by the bench scripts, which set top (the repository) and work (a temporary folder) first.
#
# start_gateway MAJOR [EXECUTOR] makes a fresh Airflow home (SQLite, the example DAGs) under $work, builds
# and starts a gateway on it with a random plugin token, and sets airflow, token, url and gw (its pid).
# With EXECUTOR warm it waits until the warm executor takes commands; the default is the gateway's own.
start_gateway() {
  local major=${1%%.*} executor=${2:-}
  local envfile
  envfile=$("$top/testbed/setup.sh" "$([ "$major" = 2 ] && echo 2.10 || echo "$major")")
  airflow=$(grep "^AIRFLOW_GATEWAY_TEST_AIRFLOW_${major}=" "$envfile" | cut -d= -f2-)
  "$top/testbed/home.sh" "$airflow" "$work/airflow" >/dev/null
  token=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
  cat > "$work/gateway.cfg" <<CFG
[gateway]
listen = 127.0.0.1:0
airflow_bin = $airflow
airflow_home = $work/airflow
${executor:+executor = $executor}

[rest_api_plugin]
rest_api_plugin_expected_http_token = $token
CFG
  (cd "$top" && go build -o "$work/airflow-gateway" ./cmd/airflow-gateway)
  "$work/airflow-gateway" serve --config "$work/gateway.cfg" > "$work/out" 2> "$work/log" &
  gw=$!
  for _ in $(seq 120); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.5; done
  url=$(grep -o 'http://[^ ]*' "$work/out")
  if [ "$executor" = warm ]; then
    for _ in $(seq 240); do curl -sf "$url/health" | grep -q '"warm":true' && break; sleep 0.5; done
  fi
}
