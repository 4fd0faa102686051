#!/usr/bin/env bash
# Alerting rules: the renderings are current, promtool accepts them, and every alert's unit tests
# (fires when it should, stays quiet when it should not) pass. promtool comes from Debian's
# `prometheus` package, installed when missing (as root on Debian/Ubuntu).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[alerts] %s\n' "$*" >&2; }

if ! command -v promtool >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing promtool (Debian package prometheus)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    # --no-install-recommends: promtool is all we need, not the server's web assets' extras.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    log "ERROR: promtool is needed (Debian/Ubuntu: sudo apt-get install prometheus)"; exit 1
  fi
fi

.venv/bin/python scripts/render_prometheus_rules.py --check
promtool check rules ops/prometheus/slo-rules.yml ops/prometheus/alert-rules.yml
promtool test rules ops/prometheus/tests/*_test.yml
