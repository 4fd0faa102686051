"""gunicorn settings for multi-process metrics (`gunicorn -c config/gunicorn.py config.wsgi`).

With several workers, set PROMETHEUS_MULTIPROC_DIR to an empty directory the workers share
(emptied before each start): prometheus_client keeps each worker's values there and `/metrics`
adds them up. A worker that exits is marked dead so its live gauges stop counting.
"""

import os
from typing import Any

from prometheus_client import multiprocess

from tenancy.metrics import multiprocess_dir_prepare

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
accesslog = "-"
# The path without its query string (search criteria are names and birth dates: PHI), the
# status, the size, the time in ms, and the request id the app echoes.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'


def on_starting(server: Any) -> None:
    """Start with an empty PROMETHEUS_MULTIPROC_DIR (a restarted container keeps its /tmp)."""
    multiprocess_dir_prepare()


def child_exit(server: Any, worker: Any) -> None:
    """Forget the live gauges of a worker that exited."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]  # untyped upstream
