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
    bash "$(dirname "$0")/apt-install.sh" ensure-chromium "$CHROMIUM" \
        "install Chromium and set NOTECHECK_CHROMIUM to its path" chromium fonts-wqy-microhei
fi
"$CHROMIUM" --version >&2 2>/dev/null || true
echo "$CHROMIUM"
