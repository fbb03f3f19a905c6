#!/usr/bin/env bash
# Install Debian packages with apt-get (through sudo unless root), for the ensure-*.sh scripts:
#   bash scripts/apt-install.sh WHO MISSING HINT PACKAGE...
# WHO names the caller in messages, MISSING what was not found, HINT what to do without apt-get.
set -euo pipefail

who=$1 missing=$2 hint=$3
shift 3
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: $missing is missing and apt-get is not available; $hint" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
