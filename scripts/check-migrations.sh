#!/usr/bin/env bash
# Migrations are in step with the models, reversible (to zero and back on a scratch database)
# and idempotent (a second migrate applies nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
base=${DATABASE_OWNER_URL%/*}
scratch=migcheck_$$
psql "$base/postgres" -qc "CREATE DATABASE $scratch" >/dev/null
trap 'psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $scratch" >/dev/null' EXIT
export DATABASE_URL="$base/$scratch"

$PY manage.py makemigrations --check --dry-run >/dev/null ||
  { echo "models changed without a migration (run manage.py makemigrations)"; exit 1; }
$PY manage.py migrate --no-input -v0
for app in mpi registration outbox tenancy; do
  if ls "$app"/migrations/0*.py >/dev/null 2>&1; then $PY manage.py migrate "$app" zero --no-input -v0; fi
done
$PY manage.py migrate --no-input -v0
$PY manage.py migrate --check >/dev/null || { echo "a second migrate would still apply something"; exit 1; }
echo "migrations OK: reversible to zero and back; nothing left to apply"
