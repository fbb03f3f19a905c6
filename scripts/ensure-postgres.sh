#!/usr/bin/env bash
# Make sure Debian's PostgreSQL 15 server binaries are installed for the store tests
# (tests/conftest.py starts a throw-away server from /usr/lib/postgresql/15/bin in a temporary
# folder, as a non-root user; the tests fail, never skip, without it). The package's own cluster
# is not used. Idempotent: does nothing when initdb is already there.
#   bash scripts/ensure-postgres.sh        # installs with apt-get when missing (needs root)
set -euo pipefail

BIN=/usr/lib/postgresql/15/bin
if [ ! -x "$BIN/initdb" ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "ensure-postgres: $BIN/initdb is missing and apt-get is not available;" \
             "install PostgreSQL 15 server binaries" >&2
        exit 1
    fi
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
fi
"$BIN/postgres" --version
