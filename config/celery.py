"""The Celery application: broker on Redis, tasks discovered from the apps, and per-process
observability (tracing; the worker's own metrics port)."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("regsvc")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The worker's liveness heartbeat, beaten from the consumer's event loop (tenancy.heartbeat).
app.steps["consumer"].add("tenancy.heartbeat:WorkerHeartbeat")


@worker_process_init.connect(weak=False)
def _trace_pool_process(**_: Any) -> None:
    """Each prefork child sets up its own tracer (exporter threads do not survive a fork)."""
    from tenancy.tracing import setup_tracing  # noqa: PLC0415 - settings are ready by now

    setup_tracing()


@worker_init.connect(weak=False)
def _worker_started(sender: Any = None, **_: Any) -> None:
    """Solo and thread pools run tasks in this process: trace here. Serve the worker's task
    metrics on CELERY_METRICS_PORT (the children's values via PROMETHEUS_MULTIPROC_DIR)."""
    from django.conf import settings  # noqa: PLC0415
    from prometheus_client import start_http_server  # noqa: PLC0415

    from tenancy.metrics import multiprocess_dir_prepare, process_registry  # noqa: PLC0415
    from tenancy.tracing import setup_tracing  # noqa: PLC0415

    pool = str(getattr(sender, "pool_cls", "") or "")
    if "prefork" not in pool.lower():
        setup_tracing()
    if settings.CELERY_METRICS_PORT:
        multiprocess_dir_prepare()  # before the pool forks its children
        start_http_server(settings.CELERY_METRICS_PORT, registry=process_registry())
