#!/usr/bin/env bash
# Medians of N direct `airflow version` runs and of N of the same command through a running gateway,
# measured in one run, one after the other.
#
#   bench/version.sh AIRFLOW_BIN AIRFLOW_HOME GATEWAY_URL TOKEN [N]
set -euo pipefail
bin=$1 home=$2 url=$3 token=$4 n=${5:-5}

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

direct=() via=()
for _ in $(seq "$n"); do
  t0=$(now); AIRFLOW_HOME=$home "$bin" version >/dev/null 2>&1; t1=$(now)
  direct+=("$(awk "BEGIN {printf \"%.3f\", $t1 - $t0}")")
  t0=$(now); curl -sf -H "Authorization: Bearer $token" "$url/api/v1/command?command=version" >/dev/null; t1=$(now)
  via+=("$(awk "BEGIN {printf \"%.3f\", $t1 - $t0}")")
done
d=$(printf '%s\n' "${direct[@]}" | median)
g=$(printf '%s\n' "${via[@]}" | median)
echo "direct airflow version:   median ${d}s of $n (${direct[*]})"
echo "through the gateway:      median ${g}s of $n (${via[*]})"
echo "gateway / direct:         $(awk "BEGIN {printf \"%.3f\", $g / $d}")"
