#!/usr/bin/env bash
# Prints the path of COMMAND, installing Debian's PACKAGE with apt-get (as root, or through sudo) when
# the command is not on PATH.
#
#   testbed/debian.sh PACKAGE COMMAND
set -euo pipefail
package=$1 command=$2
if ! command -v "$command" >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || { echo "no $command found and no apt-get to install $package: install it and put $command on PATH" >&2; exit 2; }
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "installing $package needs root or sudo" >&2; exit 2; }
    sudo="sudo -n"
  fi
  echo "installing Debian's $package package" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >&2
  $sudo apt-get install -y -qq --no-install-recommends "$package" >&2
  command -v "$command" >/dev/null 2>&1 || { echo "the $package package installed no $command" >&2; exit 2; }
fi
command -v "$command"
