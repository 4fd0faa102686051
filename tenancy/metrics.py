"""Prometheus metrics of the service: the families, the functions other code calls, exposition.

Every family is named in docs/OBSERVABILITY.md ("Metrics"); alert rules, the canary analysis
and the worker autoscaler are written against these exact names, types and labels, so renaming
one is a breaking change. Labels never carry PHI or raw paths: `route` is the URL pattern
(`api/v1/patients/<uuid:patient_id>`, see `route_label`), `task` a Celery task name, `job` a
batch job id, `tenant` a tenant id, `queue` a Celery queue name.

Multi-process: when `PROMETHEUS_MULTIPROC_DIR` is set (gunicorn with several workers, Celery's
prefork pool), prometheus_client keeps the values in files there and `/metrics` aggregates
them (`MultiProcessCollector`); the directory must be emptied before the server starts, and
`config/gunicorn.py` marks exited workers dead. Collectors that compute values at scrape time
(the outbox/inbox backlog, the shared outbox counters, the Celery queue lengths) are registered with
`register_scrape_collector` and run once per scrape, in the scraping process only.
"""

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from functools import cache, wraps
from typing import TYPE_CHECKING, ParamSpec, TypeVar
from uuid import UUID

import redis
from django.conf import settings
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from django.urls import ResolverMatch

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# The latency SLOs' bounds (0.25, 0.5, 1.0 s in ops/prometheus/slos.yml) must stay bucket bounds:
# the rules select `le="0.25"`, `le="0.5"`, `le="1.0"` (tests/unit/ops checks it).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
_TASK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)

HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request, by URL pattern, method and status.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by URL pattern, method and status.",
    ["route", "method", "status"],
)
DB_QUERY_DURATION = Histogram(
    "regsvc_db_query_duration_seconds",
    "Time of each SQL statement run through Django's connections (the app role).",
    buckets=_QUERY_BUCKETS,
)
CELERY_TASK_DURATION = Histogram(
    "celery_task_duration_seconds",
    "Run time of Celery tasks, by task name (successes and failures).",
    ["task"],
    buckets=_TASK_BUCKETS,
)
CELERY_TASK_FAILURES = Counter(
    "celery_task_failures",
    "Celery tasks that raised, by task name.",
    ["task"],
)
MATCH_DURATION = Histogram(
    "regsvc_match_duration_seconds",
    "Time of one online match (candidates, scoring, ranking) in the MPI.",
    buckets=LATENCY_BUCKETS,
)
BATCH_PROGRESS = Gauge(
    "regsvc_batch_progress_ratio",
    "Share of a batch job's work done (0..1), by job id.",
    ["job"],
    multiprocess_mode="mostrecent",
)
BREAKGLASS_GRANTS = Counter(
    "regsvc_breakglass_grants",
    "Break-glass access grants issued, by tenant id (each one is reviewed after the fact).",
    ["tenant"],
)
READINESS_OK = Gauge(
    "regsvc_readiness_ok",
    "1 when the last readiness check of this process passed, 0 when it failed.",
    multiprocess_mode="livemostrecent",
)

_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "<unmatched>"


# --- what other code calls ---------------------------------------------------------------


def route_label(match: "ResolverMatch | None") -> str:
    """The `route` label of a request: the URL pattern that matched, as Django spells it
    (`api/v1/patients/<uuid:patient_id>`, `fhir/Patient/$match`), never the raw path;
    `<unmatched>` when no pattern matched."""
    if match is None:
        return UNMATCHED_ROUTE
    return match.route or match.view_name


def http_request_observe(*, route: str, method: str, status: int, seconds: float) -> None:
    """Record one answered request (the metrics middleware calls it)."""
    labels = (route, method if method in _HTTP_METHODS else "OTHER", str(status))
    HTTP_REQUEST_DURATION.labels(*labels).observe(seconds)
    HTTP_REQUESTS.labels(*labels).inc()


def db_query_observe(seconds: float) -> None:
    """Record one SQL statement's time (tenancy.db's execute wrapper calls it)."""
    DB_QUERY_DURATION.observe(seconds)


def batch_progress_set(job_id: object, done: int, total: int) -> None:
    """Report a batch job's progress; `total` <= 0 means there was nothing to do (done)."""
    ratio = 1.0 if total <= 0 else min(1.0, max(0.0, done / total))
    BATCH_PROGRESS.labels(str(job_id)).set(ratio)


def breakglass_grant_counted(tenant_id: UUID) -> None:
    """Count one break-glass grant of tenant `tenant_id` (the break-glass service calls it when
    it grants, after the grant's transaction commits). The tenant id is not PHI."""
    BREAKGLASS_GRANTS.labels(str(tenant_id)).inc()


def readiness_set(ok: bool) -> None:
    """Record the outcome of a readiness check."""
    READINESS_OK.set(1 if ok else 0)


def timed(histogram: Histogram) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function so each call's duration is observed in `histogram`."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                histogram.observe(time.perf_counter() - started)

        return wrapper

    return decorate


# --- Celery ------------------------------------------------------------------------------

_task_started: dict[str, float] = {}


def celery_task_started(task_id: str) -> None:
    """Remember when a task began (Celery's task_prerun)."""
    _task_started[task_id] = time.perf_counter()


def celery_task_finished(task_id: str, task_name: str) -> None:
    """Observe a task's run time (Celery's task_postrun, after success or failure)."""
    started = _task_started.pop(task_id, None)
    if started is not None:
        CELERY_TASK_DURATION.labels(task_name).observe(time.perf_counter() - started)


def celery_task_failed(task_name: str) -> None:
    """Count a task that raised (Celery's task_failure)."""
    CELERY_TASK_FAILURES.labels(task_name).inc()


def connect_celery_signals() -> None:
    """Hook the task metrics into Celery's signals (idempotent; every process calls it)."""
    from celery import signals  # noqa: PLC0415 - only processes that load apps need it

    def prerun(task_id: str | None = None, **_: object) -> None:
        if task_id:
            celery_task_started(task_id)

    def postrun(task_id: str | None = None, task: object = None, **_: object) -> None:
        if task_id:
            celery_task_finished(task_id, str(getattr(task, "name", "unknown")))

    def failure(sender: object = None, **_: object) -> None:
        celery_task_failed(str(getattr(sender, "name", "unknown")))

    signals.task_prerun.connect(prerun, weak=False, dispatch_uid="regsvc.metrics.prerun")
    signals.task_postrun.connect(postrun, weak=False, dispatch_uid="regsvc.metrics.postrun")
    signals.task_failure.connect(failure, weak=False, dispatch_uid="regsvc.metrics.failure")


# --- Celery queue lengths (the worker autoscaler's metric) -------------------------------


def celery_queue_names() -> list[str]:
    """The Celery queues of the settings: the default queue (`CELERY_TASK_DEFAULT_QUEUE`,
    Celery's "celery" when unset), the declared `CELERY_TASK_QUEUES` and every queue named in
    `CELERY_TASK_ROUTES`."""
    names = {str(getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery"))}
    for queue in getattr(settings, "CELERY_TASK_QUEUES", None) or ():
        names.add(str(getattr(queue, "name", queue)))
    routes = getattr(settings, "CELERY_TASK_ROUTES", None)
    if isinstance(routes, dict):
        for route in routes.values():
            if isinstance(route, dict) and route.get("queue"):
                names.add(str(route["queue"]))
    return sorted(names)


@cache
def _broker(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)


class CeleryQueueCollector(Collector):
    """`regsvc_celery_queue_length{queue}`: messages waiting in each Celery queue of the Redis
    broker (one LLEN per queue, in one round trip, at scrape time). Broker-wide, so every web
    pod reports the same values: aggregate with `max`, never `sum`. A broker that cannot be
    read yields `regsvc_celery_queue_up 0` and no lengths (the autoscaler then holds on CPU),
    never an error in `/metrics`."""

    def describe(self) -> Iterator[Metric]:
        """Nothing up front, so registering never touches Redis."""
        return iter(())

    def collect(self) -> Iterator[Metric]:
        """LLEN of every configured queue."""
        up = GaugeMetricFamily(
            "regsvc_celery_queue_up", "1 when the Celery queue lengths could be read."
        )
        queues = celery_queue_names()
        try:
            pipe = _broker(settings.CELERY_BROKER_URL).pipeline(transaction=False)
            for queue in queues:
                pipe.llen(queue)
            lengths = pipe.execute()
        except redis.RedisError as exc:
            logger.warning("celery queue lengths not read: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        family = GaugeMetricFamily(
            "regsvc_celery_queue_length",
            "Messages waiting in a Celery queue of the broker (Redis LLEN).",
            labels=["queue"],
        )
        for queue, length in zip(queues, lengths, strict=True):
            family.add_metric([queue], float(length))
        yield family


# --- exposition --------------------------------------------------------------------------

_scrape_collectors: list[Collector] = []


def register_scrape_collector(collector: Collector) -> None:
    """Add a collector computed at scrape time, in `/metrics` only (idempotent)."""
    if collector not in _scrape_collectors:
        _scrape_collectors.append(collector)


def multiprocess_dir() -> str:
    """Where prometheus_client keeps multi-process values ('' in single-process mode)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def multiprocess_dir_prepare() -> None:
    """Create the multi-process directory and empty it of an earlier run's files; the parent
    process calls it before it forks (gunicorn's on_starting, Celery's worker_init). A no-op
    in single-process mode."""
    directory = multiprocess_dir()
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))


def process_registry() -> CollectorRegistry:
    """The values recorded by this process — or by every process sharing the multi-process
    directory (what a worker's own metrics port serves)."""
    if not multiprocess_dir():
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
    return registry


def render_metrics(*, collectors: Iterable[Collector] | None = None) -> bytes:
    """The text exposition `/metrics` serves: the recorded values, then the scrape-time
    collectors (each family comes from exactly one of the two)."""
    scrape = CollectorRegistry(auto_describe=False)
    for collector in _scrape_collectors if collectors is None else collectors:
        scrape.register(collector)
    return generate_latest(process_registry()) + generate_latest(scrape)


_celery_queue_collector = CeleryQueueCollector()


def register_collectors() -> None:
    """Expose tenancy's scrape-time collectors in `/metrics` (called from AppConfig.ready)."""
    register_scrape_collector(_celery_queue_collector)
