#!/usr/bin/env bash
# The browser tests (tests/e2e) drive Debian's Chromium at /usr/bin/chromium through Playwright;
# Playwright's own browser download (`playwright install`) is never used. Make sure it is there:
# as root on Debian/Ubuntu install the distribution's package, otherwise say what to install.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
log() { printf '[browser] %s\n' "$*" >&2; }

[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  log "installing chromium from the distribution's packages"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  [ -x "$CHROMIUM" ] && exit 0
fi
log "ERROR: the browser tests need Chromium at $CHROMIUM."
log "Install it with: sudo apt-get install chromium   (Debian's package; do not run 'playwright install')"
exit 1
