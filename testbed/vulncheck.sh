#!/usr/bin/env bash
# Runs govulncheck on the module against the Go vulnerability database of a pinned version of the
# golang.org/x/vulndb module, which the Go module proxy serves (vuln.go.dev may not be reachable, and a
# pinned database gives every run the same answer). It fails on any vulnerability that the code reaches,
# except those listed in ACCEPTED below, each with the reason it does not apply.
#
#   testbed/vulncheck.sh GOVULNCHECK_VERSION VULNDB_VERSION [MODULE_DIR]
#
# MODULE_DIR is the folder of another module of the repository (deploy/image, the program of make image);
# the accepted vulnerabilities below are the gateway's, and another module has none.
set -euo pipefail
govulncheck=golang.org/x/vuln/cmd/govulncheck@$1 vulndb=golang.org/x/vulndb@$2 dir=${3:-.}
# Reachable by govulncheck's reckoning, with no fixed version of github.com/labstack/echo/v4 (only v5 has the
# fixes), and not affecting the gateway (docs/security.md, "Dependencies"):
#   GO-2026-6875  echo's proxy middleware forwards X-Real-IP: the gateway uses no proxy middleware.
#   GO-2026-6872  Context.RealIP trusts X-Forwarded-For: the gateway never calls RealIP; it takes the
#                 client's address from the connection.
ACCEPTED="GO-2026-6875 GO-2026-6872"
[ "$dir" = . ] || ACCEPTED=""

cache=${AIRFLOW_GATEWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airflow-gateway}
db=$cache/vulndb-$2
if [ ! -f "$db/index/db.json" ]; then
  src=$(go mod download -json "$vulndb" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src/data/osv" ] || { echo "the module $vulndb has no data/osv" >&2; exit 2; }
  rm -rf "$db.tmp"
  go run "golang.org/x/vulndb/cmd/indexdb@$2" -vulns "$src/data/osv" -out "$db.tmp"
  mv "$db.tmp" "$db"
fi
# Installed rather than run with `go run`, which would hide govulncheck's exit code (3: vulnerabilities found).
bin=$cache/bin/govulncheck-$1-$(go env GOVERSION)
[ -x "$bin/govulncheck" ] || GOBIN=$bin go install "$govulncheck"
status=0
out=$("$bin/govulncheck" -C "$dir" -db "file://$db" ./... 2>&1) || status=$?
if [ "$status" != 0 ] && [ "$status" != 3 ]; then
  echo "$out" >&2
  echo "govulncheck could not run (exit $status)" >&2
  exit 2
fi
found=$(grep -oE '^Vulnerability #[0-9]+: GO-[0-9]+-[0-9]+' <<<"$out" | awk '{print $3}' | sort -u || true)
unexpected=""
for id in $found; do
  case " $ACCEPTED " in *" $id "*) ;; *) unexpected="$unexpected $id" ;; esac
done
if [ -n "$unexpected" ]; then
  echo "$out"
  echo "govulncheck: the code reaches vulnerabilities:$unexpected" >&2
  exit 1
fi
for id in $ACCEPTED; do
  grep -qx "$id" <<<"$found" || echo "govulncheck: $id is no longer found; take it off ACCEPTED in testbed/vulncheck.sh"
done
echo "govulncheck ($1, database $2, module in $dir): no vulnerability reached but the accepted ones (${ACCEPTED})"
