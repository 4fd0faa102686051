#!/usr/bin/env bash
# Every check `make test` runs: the quick ones first (stopping at the first failure), then the
# test suite with the slower static checks beside it. Exits non-zero when any check failed.
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
bash scripts/browser.sh  # the browser tests (tests/e2e) need Debian's chromium
step "alerting rules: rendered, promtool check + unit tests (fire and stay quiet)"
bash scripts/check-alerts.sh

# The remaining static checks need no more than a core between them, so they run in the
# background while the test suite runs (their output follows the suite's); `make test` still
# fails if any of them fails.
mkdir -p .local
static_log=.local/static-checks.log
(
  set -euo pipefail
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
  step "kubernetes manifests: kustomize, kubernetes-validate, rollout policy, yamllint, checkov"
  bash scripts/check-k8s.sh
) >"$static_log" 2>&1 &
static_pid=$!

step "pytest (coverage, branch)"
$PY manage.py collectstatic --no-input -v0  # whitenoise serves the console's assets from here
pytest_status=0
# Parallel workers (pytest-xdist), one per core up to 4, each with its own test database and
# Redis database (tests/conftest.py); a module's tests stay together on one worker.
workers=${TEST_WORKERS:-$(nproc)}
[ "$workers" -gt 4 ] && workers=4
$PY -m pytest -n "$workers" --dist loadfile --cov --cov-report=term --cov-fail-under=80 "$@" ||
  pytest_status=$?

static_status=0
wait "$static_pid" || static_status=$?
step "static checks (ran beside the tests)"
cat "$static_log"
if [ "$static_status" -ne 0 ]; then
  echo "a static check failed (exit $static_status): see above" >&2
fi
[ "$pytest_status" -eq 0 ] && [ "$static_status" -eq 0 ]
