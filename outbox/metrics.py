"""Outbox and inbox metrics for Prometheus: shared counters in Redis, backlog gauges from the DB.

The relay and the inbox run in Celery workers while Prometheus scrapes the web's `/metrics`, so
per-process counters would never meet. Instead each process adds to one Redis hash
(`<stream prefix>_metrics`, one HINCRBY per batch), and `OutboxCollector` reads it at scrape
time (one HGETALL). These counters are deployment-wide: every web pod exposes the same values,
so rules aggregate them with `max`, not `sum`.

The backlog gauges (`regsvc_outbox_pending`, `regsvc_outbox_lag_seconds`,
`regsvc_outbox_dead_events`, `regsvc_inbox_dead_messages`) are read at scrape time by
`BacklogCollector`, through the counts-only SECURITY DEFINER function `outbox_event_backlog()`
(no tenant data reaches the web; see `outbox.selectors.backlog`).
"""

import logging
from collections.abc import Iterator, Mapping
from functools import cache

import redis
from django.conf import settings
from django.db import DatabaseError
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from outbox.selectors.backlog import event_backlog
from tenancy.metrics import register_scrape_collector

logger = logging.getLogger(__name__)

COUNTERS: dict[str, tuple[str, str]] = {
    "outbox_published": ("family", "Events the relay put on the bus."),
    "outbox_publish_failures": (
        "family",
        "Failed publish attempts (each is retried with backoff).",
    ),
    "outbox_events_dead": ("family", "Events given up on after the maximum attempts (alert)."),
    "inbox_processed": ("sender", "Received messages processed."),
    "inbox_duplicates": ("sender", "Redelivered messages recognised and skipped."),
    "inbox_messages_dead": ("sender", "Poison messages parked as dead (alert)."),
    "inbox_retries": ("sender", "Transient failures left for redelivery."),
}


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


def _counters(stored: Mapping[str, str]) -> Iterator[Metric]:
    for counter, (label, documentation) in COUNTERS.items():
        family = CounterMetricFamily(f"regsvc_{counter}", documentation, labels=[label])
        prefix = f"c|{counter}|"
        for key, value in sorted(stored.items()):
            if key.startswith(prefix):
                family.add_metric([key[len(prefix) :]], float(value))
        yield family


class BacklogCollector(Collector):
    """The outbox and inbox backlog across tenants, counted by the database at scrape time."""

    def describe(self) -> Iterator[Metric]:
        """Nothing up front, so registering never touches the database."""
        return iter(())

    def collect(self) -> Iterator[Metric]:
        """One call of the counts-only function; `regsvc_event_backlog_up 0` if it fails."""
        up = GaugeMetricFamily(
            "regsvc_event_backlog_up", "1 when the outbox/inbox backlog could be counted."
        )
        try:
            backlog = event_backlog()
        except DatabaseError as exc:
            logger.warning("event backlog not counted: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for name, documentation, value in (
            ("regsvc_outbox_pending", "Outbox events waiting to be published.", backlog.pending),
            (
                "regsvc_outbox_lag_seconds",
                "Age of the oldest unpublished outbox event: the relay's lag (0 when none waits).",
                backlog.lag_seconds,
            ),
            (
                "regsvc_outbox_dead_events",
                "Outbox events marked dead now (waiting for a re-drive).",
                backlog.outbox_dead,
            ),
            (
                "regsvc_inbox_dead_messages",
                "Inbox messages marked dead now (waiting for a re-drive).",
                backlog.inbox_dead,
            ),
        ):
            gauge = GaugeMetricFamily(name, documentation)
            gauge.add_metric([], float(value))
            yield gauge


_collector = OutboxCollector()
_backlog_collector = BacklogCollector()


def register_collector() -> None:
    """Expose the shared counters and the backlog in `/metrics` (called from AppConfig.ready)."""
    register_scrape_collector(_collector)
    register_scrape_collector(_backlog_collector)
