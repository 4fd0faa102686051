#!/usr/bin/env bash
# Every check `make test` runs, in order, fastest first. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
set -a; . .local/env; set +a
export REGSVC_ENV=test
# The suite has its own Redis database (it flushes it); never the demo's.
export REDIS_URL="${REDIS_URL%/*}/15"
PY=.venv/bin/python
step() { printf '\n== %s\n' "$*"; }

step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
step "import-linter"
.venv/bin/lint-imports
step "mypy (strict)"
# Its cache lives outside the checkout (keyed by file content, so a fresh clone reuses it).
MYPY_CACHE_DIR="${REGSVC_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/regsvc-tools}/mypy" \
  .venv/bin/mypy .
step "detect-secrets (against .secrets.baseline)"
bash scripts/detect-secrets.sh
step "migrations: in step with models, reversible, idempotent"
bash scripts/check-migrations.sh
step "migrations since the last release: expand-only (rollback-safe)"
$PY scripts/lint_migrations.py
step "alerting rules: rendered, promtool check + unit tests (fire and stay quiet)"
bash scripts/check-alerts.sh
step "kubernetes manifests: kustomize, kubernetes-validate, rollout policy, yamllint, checkov"
bash scripts/check-k8s.sh
bash scripts/browser.sh  # the browser tests (tests/e2e) need Debian's chromium
step "pytest (coverage, branch)"
$PY manage.py collectstatic --no-input -v0  # whitenoise serves the console's assets from here
$PY -m pytest --cov --cov-report=term --cov-fail-under=80 "$@"
