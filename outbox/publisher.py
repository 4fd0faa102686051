"""The event bus behind one small interface: Redis Streams today, replaceable (e.g. Kafka).

The relay hands a batch of (stream, CloudEvent JSON) to `publish_batch` and learns, per event,
whether the bus took it. A bus that cannot be reached at all raises `BusUnavailableError`, so
the relay keeps every row pending without charging an attempt: an outage delays events, it
never dead-letters them.
"""

from collections.abc import Sequence
from functools import cache
from typing import NamedTuple, Protocol

import redis

from outbox.envelope import STREAM_FIELD


class BusUnavailableError(Exception):
    """The bus could not be reached; nothing in the batch may be assumed delivered."""


class Outgoing(NamedTuple):
    """One message for the bus: its stream and its CloudEvent JSON text."""

    stream: str
    body: str


class Publisher(Protocol):
    """What the relay needs of a bus."""

    def publish_batch(self, messages: Sequence[Outgoing]) -> list[str | None]:
        """Publish in order; per message None on success or a PHI-free error text."""
        ...  # pragma: no cover - protocol

    def trim(self, streams: Sequence[str]) -> None:
        """Bound the streams' length."""
        ...  # pragma: no cover - protocol


class RedisStreamPublisher:
    """Publishes with pipelined XADD (one round trip per batch); `trim` caps the streams."""

    def __init__(self, url: str, *, maxlen: int, timeout: float = 5.0) -> None:
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self.maxlen = maxlen

    def publish_batch(self, messages: Sequence[Outgoing]) -> list[str | None]:
        """XADD every message in one pipeline; per-command errors are returned, not raised."""
        if not messages:
            return []
        pipe = self.client.pipeline(transaction=False)
        for stream, body in messages:
            pipe.xadd(stream, {STREAM_FIELD: body})
        try:
            replies = pipe.execute(raise_on_error=False)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BusUnavailableError(type(exc).__name__) from exc
        return [_error_text(reply) if isinstance(reply, Exception) else None for reply in replies]

    def trim(self, streams: Sequence[str]) -> None:
        """Cap each stream at about `maxlen` entries (run periodically, not on every XADD)."""
        pipe = self.client.pipeline(transaction=False)
        for stream in streams:
            pipe.xtrim(stream, maxlen=self.maxlen, approximate=True)
        pipe.execute()

    def close(self) -> None:
        """Release the connection pool."""
        self.client.close()


def _error_text(error: Exception) -> str:
    """Redis error replies name the failure (e.g. WRONGTYPE); they never echo the payload."""
    return f"{type(error).__name__}: {str(error)[:200]}"


@cache
def publisher_for(url: str, maxlen: int) -> RedisStreamPublisher:
    """One publisher (and connection pool) per bus URL and stream cap in this process."""
    return RedisStreamPublisher(url, maxlen=maxlen)
