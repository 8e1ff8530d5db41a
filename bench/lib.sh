# Sourced by the bench scripts, which set top (the repository) and work (a temporary folder) first: the one
# way they install an Airflow, make a home, write a gateway's configuration and start a gateway.
#
# use_airflow VERSION         installs Airflow VERSION (2, 2.10 or 3) if need be, and sets airflow to its CLI
# new_home DIR [CONN [DAGS]]  a fresh Airflow home in DIR (testbed/home.sh: SQLite and the example DAGs, or
#                             the metadata DB at CONN and the DAGs folder DAGS), and sets home to it
# random_token                prints a random token
# build_gateway               builds the gateway into $work/airflow-gateway
# gateway_config FILE [SECTION.KEY=VALUE...]
#                             writes a gateway configuration: listen on 127.0.0.1:0, airflow_bin $airflow,
#                             airflow_home $home, the plugin token $token, and the keys given (which may
#                             replace these)
# serve_gateway NAME FILE     starts $work/airflow-gateway with the configuration FILE, its output in
#                             $work/NAME.out and its log in $work/NAME.log, and waits until it listens; sets
#                             url and gw (its pid)
# wait_health URL TEXT        waits up to 2 minutes until URL/health answers with TEXT in it
# wait_warm URL               waits until the gateway at URL runs commands on its warm executor
# start_gateway MAJOR [EXECUTOR]
#                             all of the above for one gateway on a fresh home in $work/airflow, with a
#                             random token, on EXECUTOR (the gateway's default when not given; with warm,
#                             it waits until the executor is warm); sets airflow, home, token, url and gw

use_airflow() {
  local major=${1%%.*} envfile
  envfile=$("$top/testbed/setup.sh" "$([ "$major" = 2 ] && echo 2.10 || echo "$major")")
  airflow=$(grep "^AIRFLOW_GATEWAY_TEST_AIRFLOW_${major}=" "$envfile" | cut -d= -f2-)
}

new_home() {
  "$top/testbed/home.sh" "$airflow" "$@" >/dev/null
  home=$1
}

random_token() { head -c 24 /dev/urandom | base64 | tr -d '/+='; }

build_gateway() { (cd "$top" && go build -o "$work/airflow-gateway" ./cmd/airflow-gateway); }

gateway_config() {
  local file=$1 kv section key
  shift
  local -A keys=([gateway.listen]=127.0.0.1:0 [gateway.airflow_bin]=$airflow [gateway.airflow_home]=$home
    [rest_api_plugin.rest_api_plugin_expected_http_token]=$token)
  for kv in "$@"; do keys[${kv%%=*}]=${kv#*=}; done
  : > "$file"
  chmod 600 "$file"
  for section in $(printf '%s\n' "${!keys[@]}" | cut -d. -f1 | sort -u); do
    echo "[$section]" >> "$file"
    for key in $(printf '%s\n' "${!keys[@]}" | grep "^$section\." | sort); do
      echo "${key#*.} = ${keys[$key]}" >> "$file"
    done
    echo >> "$file"
  done
}

serve_gateway() {
  : > "$work/$1.out" # before the start, so that a line of an earlier gateway of that name is not read
  "$work/airflow-gateway" serve --config "$2" > "$work/$1.out" 2> "$work/$1.log" &
  gw=$!
  for _ in $(seq 240); do grep -q listening "$work/$1.out" 2>/dev/null && break; sleep 0.5; done
  url=$(grep -o 'https\?://[^ ]*' "$work/$1.out") || { echo "the gateway $1 did not start:" >&2; cat "$work/$1.log" >&2; return 1; }
}

wait_health() {
  for _ in $(seq 240); do curl -sfk "$1/health" 2>/dev/null | grep -qF "$2" && return; sleep 0.5; done
  echo "$1/health did not say $2 within 2 minutes" >&2
  return 1
}

wait_warm() { wait_health "$1" '"warm":true'; }

start_gateway() {
  use_airflow "$1"
  new_home "$work/airflow"
  token=$(random_token)
  build_gateway
  gateway_config "$work/gateway.cfg" ${2:+gateway.executor=$2}
  serve_gateway gateway "$work/gateway.cfg"
  if [ "${2:-}" = warm ]; then wait_warm "$url"; fi
}
