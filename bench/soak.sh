#!/usr/bin/env bash
# A soak run: mixed traffic against one warm gateway for MINUTES (30), then what its memory, goroutines and
# open files did. The traffic: commands on the plugin, command and MWAA dialects; jobs whose followers
# disconnect and resume from their last event id; logins; metrics scrapes; forced deploys; and a SIGHUP
# (token rotation) every 3 minutes. Every minute it prints the gateway's RSS, goroutines (from /metrics'
# Go collector) and open file descriptors; at the end, each one's slope over the run after its first
# minutes (least squares, per hour), and how many answers had each status.
#
#   bench/soak.sh [MINUTES] [2|3]      (30, 3)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
minutes=${1:-30} major=${2:-3}
work=$(mktemp -d) gw="" pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; kill "$gw" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT

. "$top/bench/lib.sh"
use_airflow "$major"
new_home "$work/airflow"
token=$(random_token)
viewer=$(random_token)
build_gateway
printf '[viewer-bot]\nrole = Viewer\nsha256 = %s\n' "$(printf '%s' "$viewer" | "$work/airflow-gateway" hash-token)" > "$work/tokens.ini"
gateway_config "$work/gateway.cfg" gateway.executor=warm gateway.secret_key=soak-run-secret-key-0123456789 auth.tokens_file="$work/tokens.ini"
serve_gateway gateway "$work/gateway.cfg"
wait_warm "$url"
echo "gateway on $url (Airflow $("$airflow" version 2>/dev/null | tail -1)), warm, $(nproc) cores, $minutes minutes"

statuses=$work/statuses
# status LABEL CURL-ARGS...: one request; appends "LABEL STATUS" to the statuses file.
status() {
  local label=$1; shift
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 120 "$@" || echo 000)
  echo "$label $code" >> "$statuses"
}
end=$(( $(date +%s) + minutes * 60 ))
running() { [ "$(date +%s)" -lt "$end" ]; }

# Two clients of commands, each going round the three dialects.
for _ in 1 2; do
  (while running; do
    status plugin -H "rest_api_plugin_http_token: $token" "$url/admin/rest_api/api?api=version"
    status plugin -H "rest_api_plugin_http_token: $token" "$url/admin/rest_api/api?api=list_dags"
    status command -H "Authorization: Bearer $token" "$url/api/v1/command?command=variables%20list"
    status command -H "Authorization: Bearer $viewer" "$url/api/v1/command?command=dags%20list%20-o%20json"
    status mwaa -H "Authorization: Bearer $token" -H 'Content-Type: text/plain' --data-raw 'version' "$url/aws_mwaa/cli"
  done) & pids+=($!)
done
# A job every 10 s, followed for a second, dropped, and followed again from its last event id.
(while running; do
  id=$(curl -s -H "Authorization: Bearer $token" -X POST "$url/api/v1/jobs?command=dags%20test%20gw_two_tasks" | jq -r .id)
  echo "job $([ -n "$id" ] && [ "$id" != null ] && echo 202 || echo 000)" >> "$statuses"
  last=$(curl -sN --max-time 1 -H "Authorization: Bearer $token" "$url/api/v1/jobs/$id/output" 2>/dev/null | sed -n 's/^id: //p' | tail -1 || true)
  status follow -N --max-time 300 -H "Authorization: Bearer $token" ${last:+-H "Last-Event-ID: $last"} "$url/api/v1/jobs/$id/output"
  sleep 10
done) & pids+=($!)
# Logins, metrics scrapes and forced deploys.
printf 'from datetime import datetime\nfrom airflow import DAG\nwith DAG("gw_soaked", start_date=datetime(2024, 1, 1), schedule=None):\n    pass\n' > "$work/gw_soaked.py"
(while running; do
  status login "$url/login?token=$viewer"
  status metrics -H "Authorization: Bearer $token" "$url/metrics"
  status deploy -H "rest_api_plugin_http_token: $token" -F force=on -F "dag_file=@$work/gw_soaked.py" "$url/admin/rest_api/api?api=deploy_dag"
  sleep 5
done) & pids+=($!)
# Token rotation.
(while running; do sleep 180; running && kill -HUP "$gw" && echo "sighup 200" >> "$statuses"; done) & pids+=($!)

# sample: the gateway's RSS (MiB), goroutines and open file descriptors.
sample() {
  local metrics rss
  metrics=$(curl -s -H "Authorization: Bearer $token" "$url/metrics")
  rss=$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$gw/status")
  echo "$rss $(awk '/^go_goroutines / {print $2}' <<<"$metrics") $(ls "/proc/$gw/fd" | wc -l)"
}
samples=$work/samples
printf '%6s %9s %10s %4s\n' minute rss_mib goroutines fds
for m in $(seq 0 "$minutes"); do
  [ "$m" -gt 0 ] && sleep 60
  s=$(sample)
  echo "$m $s" >> "$samples"
  printf '%6s %9s %10s %4s\n' "$m" $s
done
wait "${pids[@]}" 2>/dev/null || true
pids=()

# The slope of column 2, 3 and 4 against minutes, from minute skip on, per hour.
skip=$(( minutes >= 10 ? 5 : 1 ))
awk -v skip="$skip" '$1 >= skip {
  n++; x += $1; xx += $1 * $1
  for (c = 2; c <= 4; c++) { y[c] += $c; xy[c] += $1 * $c; if (n == 1) first[c] = $c; last[c] = $c }
} END {
  split("rss_mib goroutines fds", name, " ")
  d = n * xx - x * x
  for (c = 2; c <= 4; c++) {
    slope = d ? (n * xy[c] - x * y[c]) / d * 60 : 0
    printf "%-10s from minute %d: %s -> %s, slope %+.2f per hour\n", name[c - 1], skip, first[c], last[c], slope
  }
}' "$samples"
echo "answers by kind and status:"
sort "$statuses" | uniq -c | awk '{printf "  %-8s %s  %d\n", $2, $3, $1}'
if awk '$2 ~ /^5/ && $2 != 503 {bad = 1} $2 == "000" {bad = 1} END {exit !bad}' "$statuses"; then
  echo "answers other than the designed 503s failed: see above" >&2
  grep -E 'level=(ERROR|WARN)' "$work/gateway.log" | tail -20 >&2
  exit 1
fi
