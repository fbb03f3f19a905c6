#!/usr/bin/env bash
# Make sure a headless Chromium is available for the browser tests (tests/e2e) and prints its path.
#
# The browser comes from Debian's `chromium` package, never from `playwright install` (which
# downloads a browser build of its own). Playwright for Python drives it through
# executable_path. Idempotent: does nothing when the binary is already there.
#   bash scripts/ensure-chromium.sh        # installs with apt-get when missing (needs root)
set -euo pipefail

CHROMIUM="${NOTECHECK_CHROMIUM:-$(command -v chromium || command -v chromium-browser || echo /usr/bin/chromium)}"
if [ ! -x "$CHROMIUM" ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "ensure-chromium: $CHROMIUM is missing and apt-get is not available;" \
             "install Chromium and set NOTECHECK_CHROMIUM to its path" >&2
        exit 1
    fi
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei >/dev/null
fi
"$CHROMIUM" --version >&2 2>/dev/null || true
echo "$CHROMIUM"
