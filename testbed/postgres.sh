#!/usr/bin/env bash
# Makes sure Debian's PostgreSQL server is installed for the tests of the PostgreSQL job store and the
# replicas, and prints the folder of its programs. The tests start their own servers from it
# (testbed/postgres.go), as an unprivileged user, in temporary directories, on free ports.
#
#   testbed/postgres.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
postgres=$("$here/debian.sh" postgresql '/usr/lib/postgresql/*/bin/postgres')
echo "using $("$postgres" --version)" >&2
dirname "$postgres"
