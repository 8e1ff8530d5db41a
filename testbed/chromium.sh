#!/usr/bin/env bash
# Makes sure a headless-capable Chromium is installed for the admin page's browser tests, installing
# Debian's `chromium` package when none is found, and prints its path.
#
#   testbed/chromium.sh
set -euo pipefail

find_chromium() { command -v chromium || command -v chromium-browser || true; }

bin=$(find_chromium)
if [ -z "$bin" ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "no Chromium found and no apt-get to install it: install Chromium and put it on PATH" >&2
    exit 2
  fi
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "installing Chromium needs root or sudo" >&2; exit 2; }
    sudo="sudo -n"
  fi
  echo "installing Debian's chromium package" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >&2
  $sudo apt-get install -y -qq --no-install-recommends chromium >&2
  bin=$(find_chromium)
  [ -n "$bin" ] || { echo "the chromium package installed no chromium binary" >&2; exit 2; }
fi
version=$("$bin" --version 2>/dev/null) # Debian's wrapper script complains on stderr about the memory size
echo "using $version" >&2
echo "$bin"
