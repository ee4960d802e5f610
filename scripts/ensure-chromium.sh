#!/usr/bin/env bash
# The dashboard's browser test drives a real Chromium (puppeteer-core, no browser download): installs Debian's
# chromium package when no chromium binary is found. Prints nothing when one is there (CHROME_PATH, or
# chromium / chromium-browser on PATH); never fails its caller — the test itself says clearly what is missing.
set -uo pipefail
found() {
  { [ -n "${CHROME_PATH:-}" ] && [ -x "$CHROME_PATH" ]; } ||
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
}
found && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; }
fi
found || echo "chromium not installed (needs root and apt-get): the dashboard's browser test will fail" >&2
exit 0
