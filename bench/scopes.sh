#!/usr/bin/env bash
# What a scope costs (SPEC §19), in one run:
#   1. the scope check: BenchmarkScopeCheck resolves `dags trigger` for a credential without a scope, and for
#      scopes of tags and of globs, with 10,000 DAGs in the index (p50 and p99 of single resolutions; the
#      goal is a p99 under 1 ms);
#   2. a filtered listing: on each Airflow version, a home with 1,000 DAGs and a gateway on the warm
#      executor; N alternate calls of `dags list` (the table Airflow prints) as a token without a scope, as
#      one whose scope reaches a tenth of the DAGs by glob and a tenth by tag, and as one whose scope
#      reaches every DAG, the worst case (run as JSON, filtered, and printed as the table again); the
#      medians and their ratios to the first (the goal: at most 1.2x).
#
#   bench/scopes.sh [N] [VERSION...]      (N = 20, versions 2.10 and 3)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-20}
shift || true
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(2.10 3)
work=$(mktemp -d) gw=""
trap 'kill "$gw" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT

. "$top/bench/lib.sh"

echo "The scope check, 10,000 DAGs in the index, $(nproc) cores:"
(cd "$top" && go test -run - -bench ScopeCheck -benchtime 100000x ./commands | grep ^Benchmark)

build_gateway
cat > "$work/many.py" <<'PY'
"""1,000 DAGs of ten teams, for bench/scopes.sh."""
from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG

for i in range(1000):
    team = i % 10
    with DAG(dag_id=f"bench_{team}_{i:04d}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False,
             tags=[f"team-{(i // 10) % 10}"]) as dag:
        pass
    globals()[dag.dag_id] = dag
PY
token=$(random_token) scoped=$(random_token) every=$(random_token)
cat > "$work/tokens.ini" <<INI
[admin]
role = Admin
sha256 = $(printf '%s\n' "$token" | "$work/airflow-gateway" hash-token)

[team-3]
role = Viewer
sha256 = $(printf '%s\n' "$scoped" | "$work/airflow-gateway" hash-token)
dags = bench_3_*
tags = team-7

[everything]
role = Viewer
sha256 = $(printf '%s\n' "$every" | "$work/airflow-gateway" hash-token)
dags = *
INI

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for v in "${versions[@]}"; do
  use_airflow "$v"
  EXTRA_DAGS=$work/many.py new_home "$work/home-$v"
  gateway_config "$work/gateway-$v.cfg" gateway.executor=warm auth.tokens_file="$work/tokens.ini" auth.dag_index_refresh=5s
  serve_gateway "gateway-$v" "$work/gateway-$v.cfg"
  wait_warm "$url"
  wait_health "$url" '"dags":1003'
  q="$url/api/v1/command?command=dags%20list"
  rows() { curl -sf -H "Authorization: Bearer $1" "$q%20-o%20json" | jq '.stdout | fromjson | length'; }
  echo
  echo "Airflow $("$airflow" version 2>/dev/null | tail -1): dags list lists $(rows "$token") DAGs without a scope, $(rows "$scoped") with one"
  : > "$work/plain" ; : > "$work/filtered" ; : > "$work/every"
  for _ in $(seq "$n"); do
    curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token" "$q" >> "$work/plain"
    curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $scoped" "$q" >> "$work/filtered"
    curl -sf -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $every" "$q" >> "$work/every"
  done
  p=$(median < "$work/plain") f=$(median < "$work/filtered") e=$(median < "$work/every")
  printf '  median of %d: without a scope %.3f s; a fifth of the DAGs %.3f s, %.2fx; a scope of every DAG %.3f s, %.2fx (goal <= 1.2x)\n' \
    "$n" "$p" "$f" "$(echo "$f / $p" | bc -l)" "$e" "$(echo "$e / $p" | bc -l)"
  kill "$gw"; wait "$gw" 2>/dev/null || true; gw=""
done
