#!/usr/bin/env bash
# A REST call as a person against the same call as a role, side by side in one run, on Airflow 3 with the
# simple auth manager (SPEC §20): the API server on a fresh home with the users gw-admin (admin) and alice
# (op), a gateway in front of it whose tokens file has a token of role Admin acting as its role's user
# (gw-admin, with a JWT from POST /auth/token) and a token acting as alice (airflow_user, with a JWT the
# gateway signs with [airflow_api] jwt_secret_file), then bench/rest's N sequential calls each of
#   role-v2     GET /api/v2/dags/gw_conf through the gateway as the role
#   person-v2   the same as the person
# and the ratio the goal names (person ≤ 1.05x role at the median); then a permission check of the CLI
# dialects in the warm process (BenchmarkAuthorize, goal ≤ 2 ms at the median).
#
#   bench/person.sh [N]      (500)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-500}
work=$(mktemp -d) gw="" api=""
trap 'kill "$gw" 2>/dev/null || true; [ -n "$api" ] && kill -- -"$api" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT

. "$top/bench/lib.sh"
use_airflow 3
new_home "$work/airflow"
token=$(random_token) role_token=$(random_token) person_token=$(random_token)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo '{"gw-admin": "pw-admin", "alice": "pw-alice"}' > "$home/passwords.json"
# The users are in airflow.cfg, which the gateway reads too: it signs alice's JWTs with her role there.
sed -i 's/^\[core\]$/[core]\nsimple_auth_manager_users = gw-admin:admin,alice:op/' "$home/airflow.cfg"
head -c 32 /dev/urandom | base64 | tr -d '/+=' > "$work/jwt-secret"
chmod 600 "$work/jwt-secret"
AIRFLOW_HOME=$home AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$home/passwords.json \
  AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$work/jwt-secret")" AIRFLOW__API__BASE_URL=http://127.0.0.1:$port \
  setsid "$airflow" api-server --port "$port" --host 127.0.0.1 --workers 1 > "$work/api.log" 2>&1 &
api=$!
for _ in $(seq 240); do curl -fs "http://127.0.0.1:$port/api/v2/monitor/health" >/dev/null && break; sleep 0.5; done

printf '[Admin]\nusername = gw-admin\npassword = pw-admin\n' > "$work/users.ini"
sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
printf '[as-role]\nrole = Admin\nsha256 = %s\n\n[as-alice]\nrole = Admin\nsha256 = %s\nairflow_user = alice\n' \
  "$(sha "$role_token")" "$(sha "$person_token")" > "$work/tokens.ini"
chmod 600 "$work/users.ini" "$work/tokens.ini"
build_gateway
gateway_config "$work/gateway.cfg" gateway.executor=subprocess auth.tokens_file="$work/tokens.ini" \
  airflow_api.url="http://127.0.0.1:$port" airflow_api.users_file="$work/users.ini" airflow_api.jwt_secret_file="$work/jwt-secret"
serve_gateway gateway "$work/gateway.cfg"
echo "Airflow $("$airflow" version 2>/dev/null | tail -1), API server on :$port, gateway on $url, $(nproc) cores, $n calls each"

(cd "$top" && go build -o "$work/rest" ./bench/rest)
"$work/rest" -n "$n" \
  "role-v2=$url/api/v2/dags/gw_conf|Bearer $role_token|$gw" \
  "person-v2=$url/api/v2/dags/gw_conf|Bearer $person_token|$gw"

# The CLI's permission check (SPEC §20: goal ≤ 2 ms at the median): BenchmarkAuthorize asks the warm
# process's authorizer whether a user of the simple auth manager may trigger a DAG, on a home of its own
# with the same Airflow, the authorizer started before the timing.
echo "permission check in the warm process (BenchmarkAuthorize, goal <= 2 ms at the median):"
(cd "$top" && AIRFLOW_GATEWAY_TEST_AIRFLOW_3=$airflow go test -run '^$' -bench '^BenchmarkAuthorize$' -benchtime 2000x ./commands/warm) |
  awk '/^BenchmarkAuthorize/ { for (i = 3; i < NF; i++) m[$(i + 1)] = $i
         printf "  %-10s p50 %.3f ms   p99 %.3f ms   (%d checks)\n", "authorize", m["p50-ns"] / 1e6, m["p99-ns"] / 1e6, $2; ok = 1 }
       END { if (!ok) { print "  BenchmarkAuthorize printed no figure"; exit 1 } }'
