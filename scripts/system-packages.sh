#!/usr/bin/env bash
# Install the Debian packages some tests use, when they are missing and we are root:
#   promtool (package `prometheus`): checks the alert rules in deploy/.
#   chromium: the portal's browser tests drive it with Playwright (no browser download).
#   npm (with node): installs axe-core, which the browser tests run in each page.
# Elsewhere the tests that need them skip, saying why. Diagnostics go to stderr.
set -euo pipefail

log() { echo "system-packages.sh: $*" >&2; }

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    log "not installing ${missing[*]} (needs root and apt-get); the tests that use them skip"
    exit 0
fi
log "installing ${missing[*]} from Debian packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# No service is started: the package's daemon is not used, only its tools.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
