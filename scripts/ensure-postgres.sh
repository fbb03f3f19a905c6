#!/usr/bin/env bash
# Make sure Debian's PostgreSQL 15 server binaries are installed for the store tests
# (tests/conftest.py starts a throw-away server from /usr/lib/postgresql/15/bin in a temporary
# folder, as a non-root user; the tests fail, never skip, without it). The package's own cluster
# is not used. Idempotent: does nothing when initdb is already there.
#   bash scripts/ensure-postgres.sh        # installs with apt-get when missing (needs root)
set -euo pipefail

BIN=/usr/lib/postgresql/15/bin
if [ ! -x "$BIN/initdb" ]; then
    bash "$(dirname "$0")/apt-install.sh" ensure-postgres "$BIN/initdb" \
        "install PostgreSQL 15 server binaries" postgresql-15
fi
"$BIN/postgres" --version
