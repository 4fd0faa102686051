"""Outbox and inbox metrics for Prometheus, shared by every process through Redis.

The relay and the inbox run in Celery workers while Prometheus scrapes the web's `/metrics`, so
per-process counters would never meet. Instead each process adds to one Redis hash
(`<stream prefix>_metrics`, one HINCRBY per batch), and a collector registered in the default
prometheus_client registry reads it at scrape time (one HGETALL). The gauges that need a
cross-tenant query (pending count, oldest pending event, dead rows) are refreshed by the
`outbox.metrics_refresh` beat task through the relay's role; the oldest event's age is computed
at scrape time so the lag keeps growing even between refreshes.
"""

import logging
import time
from collections.abc import Iterator, Mapping
from functools import cache

import redis
from django.conf import settings
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

COUNTERS: dict[str, tuple[str, str]] = {
    "outbox_published": ("family", "Events the relay put on the bus."),
    "outbox_publish_failures": (
        "family",
        "Failed publish attempts (each is retried with backoff).",
    ),
    "outbox_dead": ("family", "Events given up on after the maximum attempts (alert)."),
    "inbox_processed": ("sender", "Received messages processed."),
    "inbox_duplicates": ("sender", "Redelivered messages recognised and skipped."),
    "inbox_dead": ("sender", "Poison messages parked as dead (alert)."),
    "inbox_retries": ("sender", "Transient failures left for redelivery."),
}
GAUGE_PENDING = "pending"
GAUGE_DEAD = "dead"
GAUGE_OLDEST = "oldest_created_at"
GAUGE_REFRESHED = "refreshed_at"


def metrics_key() -> str:
    """The Redis hash holding this deployment's counters and gauges."""
    return f"{settings.OUTBOX_STREAM_PREFIX}_metrics"


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)


def metrics_client() -> redis.Redis:
    """The Redis client that stores the metrics (the bus's Redis)."""
    return _client(settings.OUTBOX_BUS_URL)


def count(counter: str, label: str, amount: int = 1) -> None:
    """Add to a counter; a metrics outage is logged, never raised into the work it measures."""
    count_many({(counter, label): amount})


def count_many(amounts: Mapping[tuple[str, str], int]) -> None:
    """Add to several counters in one round trip."""
    amounts = {key: n for key, n in amounts.items() if n}
    if not amounts:
        return
    try:
        pipe = metrics_client().pipeline(transaction=False)
        for (counter, label), amount in amounts.items():
            pipe.hincrby(metrics_key(), f"c|{counter}|{label}", amount)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("outbox metrics not recorded: %s", type(exc).__name__)


def set_gauges(*, pending: int, dead: int, oldest_created_at: float | None) -> None:
    """Store the cross-tenant gauges computed by the refresh task."""
    metrics_client().hset(
        metrics_key(),
        mapping={
            f"g|{GAUGE_PENDING}": pending,
            f"g|{GAUGE_DEAD}": dead,
            f"g|{GAUGE_OLDEST}": "" if oldest_created_at is None else repr(oldest_created_at),
            f"g|{GAUGE_REFRESHED}": repr(time.time()),
        },
    )


def read_metrics() -> dict[str, str]:
    """Every stored counter and gauge, decoded."""
    raw: dict[bytes, bytes] = metrics_client().hgetall(metrics_key())  # type: ignore[assignment]  # sync client
    return {k.decode(): v.decode() for k, v in raw.items()}


class OutboxCollector(Collector):
    """Exposes the shared counters and gauges in this process's `/metrics`."""

    def describe(self) -> Iterator[Metric]:
        """Nothing up front, so registering never touches Redis (collect() reads it)."""
        return iter(())

    def collect(self) -> Iterator[Metric]:
        """Read the Redis hash once; report `regsvc_outbox_metrics_up 0` if it cannot."""
        up = GaugeMetricFamily(
            "regsvc_outbox_metrics_up", "1 when the shared outbox metrics could be read."
        )
        try:
            stored = read_metrics()
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _counters(stored)
        yield from _gauges(stored)


def _counters(stored: Mapping[str, str]) -> Iterator[Metric]:
    for counter, (label, documentation) in COUNTERS.items():
        family = CounterMetricFamily(f"regsvc_{counter}", documentation, labels=[label])
        prefix = f"c|{counter}|"
        for key, value in sorted(stored.items()):
            if key.startswith(prefix):
                family.add_metric([key[len(prefix) :]], float(value))
        yield family


def _gauges(stored: Mapping[str, str]) -> Iterator[Metric]:
    pending = GaugeMetricFamily("regsvc_outbox_pending", "Outbox events waiting to be published.")
    dead = GaugeMetricFamily("regsvc_outbox_dead_events", "Outbox events marked dead (re-drive).")
    lag = GaugeMetricFamily(
        "regsvc_outbox_oldest_pending_age_seconds",
        "Age of the oldest unpublished event: the relay's lag (0 when none is pending).",
    )
    refreshed = GaugeMetricFamily(
        "regsvc_outbox_gauges_refreshed_timestamp_seconds",
        "When the pending/dead/lag gauges were last computed.",
    )
    if f"g|{GAUGE_REFRESHED}" in stored:
        pending.add_metric([], float(stored.get(f"g|{GAUGE_PENDING}", 0)))
        dead.add_metric([], float(stored.get(f"g|{GAUGE_DEAD}", 0)))
        oldest = stored.get(f"g|{GAUGE_OLDEST}", "")
        lag.add_metric([], max(0.0, time.time() - float(oldest)) if oldest else 0.0)
        refreshed.add_metric([], float(stored[f"g|{GAUGE_REFRESHED}"]))
    yield from (pending, dead, lag, refreshed)


_collector = OutboxCollector()


def register_collector() -> None:
    """Register the collector once in the default registry (called from AppConfig.ready)."""
    try:
        REGISTRY.register(_collector)
    except ValueError:  # already registered in this process
        return
