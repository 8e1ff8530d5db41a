#!/usr/bin/env bash
# Prints the path of PROGRAM, installing Debian's PACKAGE with apt-get (as root, or through sudo) when
# it is missing. PROGRAM is a command on PATH, or an absolute path pattern (the newest match is printed).
#
#   testbed/debian.sh PACKAGE PROGRAM
set -euo pipefail
package=$1 program=$2
find_program() {
  case $program in
    /*) compgen -G "$program" | sort -V | tail -n 1 ;;
    *) command -v "$program" || true ;;
  esac
}
if [ -z "$(find_program)" ]; then
  command -v apt-get >/dev/null 2>&1 || { echo "no $program found and no apt-get to install $package: install $package" >&2; exit 2; }
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "installing $package needs root or sudo" >&2; exit 2; }
    sudo="sudo -n"
  fi
  echo "installing Debian's $package package" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >&2
  $sudo apt-get install -y -qq --no-install-recommends "$package" >&2
  [ -n "$(find_program)" ] || { echo "the $package package installed no $program" >&2; exit 2; }
fi
find_program
