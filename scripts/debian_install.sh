#!/usr/bin/env bash
# Install Debian packages this project runs beside Python, when a command of theirs is missing:
#   scripts/debian_install.sh COMMAND PACKAGE [COMMAND PACKAGE ...]
# e.g. `redis-server redis-server` or `wrk wrk`. A COMMAND may be a glob of a path
# (/usr/lib/postgresql/*/bin/initdb). Uses sudo unless run as root.
set -euo pipefail
missing=()
while [ $# -ge 2 ]; do
  command="$1" package="$2"; shift 2
  if [[ "$command" == /* ]]; then
    compgen -G "$command" >/dev/null && continue
  else
    command -v "$command" >/dev/null 2>&1 && continue
  fi
  missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing ${missing[*]} from Debian"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
