#!/usr/bin/env bash
# Seed the demo tenant and run web + Celery worker + beat in the foreground; Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
set -a; . .local/env; set +a
export REGSVC_ENV=development
PORT=${PORT:-8000}
PY=.venv/bin/python

$PY manage.py collectstatic --no-input -v0
logins=$($PY manage.py demo_seed)

pids=()
stop() { trap - INT TERM EXIT; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; echo "stopped"; }
trap stop INT TERM EXIT

mkdir -p .local/log
# Two web workers share their metrics through PROMETHEUS_MULTIPROC_DIR (emptied each start).
rm -rf .local/prometheus && mkdir -p .local/prometheus
PROMETHEUS_MULTIPROC_DIR=.local/prometheus .venv/bin/gunicorn -c config/gunicorn.py config.wsgi \
  --bind "127.0.0.1:$PORT" --workers 2 >.local/log/web.log 2>&1 & pids+=($!)
.venv/bin/celery -A config worker --loglevel INFO --concurrency 2 >.local/log/worker.log 2>&1 & pids+=($!)
.venv/bin/celery -A config beat --loglevel INFO --schedule .local/celerybeat-schedule \
  >.local/log/beat.log 2>&1 & pids+=($!)

for _ in $(seq 60); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
cat <<MSG

Registration Service demo is up (logs in .local/log/).
  Console:     http://127.0.0.1:$PORT/admin/
  REST API:    http://127.0.0.1:$PORT/api/v1/   (docs: /api/docs, /api/redoc)
  Health:      http://127.0.0.1:$PORT/healthz   http://127.0.0.1:$PORT/readyz

$logins

Press Ctrl-C to stop web, worker and beat.
MSG
wait -n "${pids[@]}"
echo "a demo process exited; see .local/log/" >&2
