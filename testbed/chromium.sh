#!/usr/bin/env bash
# Makes sure a headless-capable Chromium is installed for the admin page's browser tests, installing
# Debian's `chromium` package when none is found, and prints its path.
#
#   testbed/chromium.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

bin=$(command -v chromium || command -v chromium-browser || "$here/debian.sh" chromium chromium)
version=$("$bin" --version 2>/dev/null) # Debian's wrapper script complains on stderr about the memory size
echo "using $version" >&2
echo "$bin"
