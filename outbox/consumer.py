"""The Redis Streams side of the inbox: consumer groups in, `inbox_receive`, XACK after commit.

Each sender writes structured CloudEvents (field `cloudevent`) to its own stream
(`settings.INBOX_STREAMS`). This service reads them through one consumer group, so several
workers share the load and a message read by a worker that dies stays pending until another
worker claims it (after `INBOX_CLAIM_IDLE_MS`). A message is acknowledged only once
`inbox_receive` has committed (processed, duplicate or dead); a transient failure leaves it
pending for redelivery, and after `INBOX_MAX_DELIVERIES` it is parked as dead. A message that
names no tenant cannot enter any tenant's inbox: it is copied to the dead-letter stream and
acknowledged.
"""

import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db import close_old_connections

from outbox import metrics
from outbox.envelope import STREAM_FIELD, parse_incoming
from outbox.errors import TransientMessageError, UnattributableMessageError
from outbox.services.inbox import InboxOutcome, inbox_give_up, inbox_receive

logger = logging.getLogger(__name__)


@dataclass
class ConsumeResult:
    """What one pass over the streams did."""

    read: int = 0
    processed: int = 0
    duplicates: int = 0
    dead: int = 0
    retried: int = 0
    dead_lettered: int = 0

    def add(self, other: "ConsumeResult") -> None:
        """Accumulate passes."""
        for name in ("read", "processed", "duplicates", "dead", "retried", "dead_lettered"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def default_consumer_name() -> str:
    """Unique per process, stable for its life: host and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


class InboxStreamConsumer:
    """Reads the senders' streams through a consumer group and feeds the inbox."""

    def __init__(
        self,
        *,
        client: redis.Redis | None = None,
        streams: Mapping[str, str] | None = None,
        group: str | None = None,
        consumer: str | None = None,
    ) -> None:
        self.client: redis.Redis = client or redis.Redis.from_url(
            settings.OUTBOX_BUS_URL, decode_responses=True, socket_timeout=10
        )
        self.streams = dict(streams if streams is not None else settings.INBOX_STREAMS)
        self.sender_of = {stream: sender for sender, stream in self.streams.items()}
        self.group = group or settings.INBOX_CONSUMER_GROUP
        self.consumer = consumer or default_consumer_name()
        self._groups_ready = False

    def ensure_groups(self) -> None:
        """Create the consumer group on every stream (from the start; idempotent)."""
        for stream in self.streams.values():
            try:
                self.client.xgroup_create(stream, self.group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._groups_ready = True

    def consume(self, *, count: int = 100, block_ms: int | None = None) -> ConsumeResult:
        """One pass: reclaim stale pending messages, then read new ones (block up to block_ms)."""
        if not self._groups_ready:
            self.ensure_groups()
        result = ConsumeResult()
        for stream in self.streams.values():
            self._reclaim(stream, count, result)
        replies: Any = self.client.xreadgroup(
            self.group,
            self.consumer,
            dict.fromkeys(self.streams.values(), ">"),
            count=count,
            block=block_ms,
        )
        for stream, entries in replies or []:
            for entry_id, fields in entries:
                self._handle(stream, entry_id, fields, deliveries=1, result=result)
        return result

    def consume_until_idle(self, *, time_budget: float, count: int = 100) -> ConsumeResult:
        """Passes without blocking until one reads nothing or the time budget is spent."""
        deadline = time.monotonic() + time_budget
        total = ConsumeResult()
        while True:
            result = self.consume(count=count)
            total.add(result)
            if result.read == 0 or time.monotonic() >= deadline:
                return total

    def _reclaim(self, stream: str, count: int, result: ConsumeResult) -> None:
        """Claim messages other consumers (or a crashed us) read but never acknowledged."""
        pending: Any = self.client.xpending_range(
            stream, self.group, min="-", max="+", count=count, idle=settings.INBOX_CLAIM_IDLE_MS
        )
        if not pending:
            return
        deliveries = {p["message_id"]: int(p["times_delivered"]) + 1 for p in pending}
        claimed: Any = self.client.xclaim(
            stream, self.group, self.consumer, settings.INBOX_CLAIM_IDLE_MS, list(deliveries)
        )
        for entry_id, fields in claimed:
            self._handle(
                stream, entry_id, fields, deliveries=deliveries.get(entry_id, 2), result=result
            )

    def _handle(
        self,
        stream: str,
        entry_id: str,
        fields: Mapping[str, str] | None,
        *,
        deliveries: int,
        result: ConsumeResult,
    ) -> None:
        result.read += 1
        sender = self.sender_of[stream]
        raw = (fields or {}).get(STREAM_FIELD)
        try:
            if raw is None:
                raise UnattributableMessageError(f"The entry has no {STREAM_FIELD} field.")
            event = parse_incoming(raw)
            if deliveries > settings.INBOX_MAX_DELIVERIES:
                receipt = inbox_give_up(
                    sender=sender,
                    event=event,
                    error=f"transient failures on {deliveries - 1} deliveries",
                )
            else:
                receipt = inbox_receive(sender=sender, event=event)
        except UnattributableMessageError as exc:
            self._dead_letter(stream, entry_id, fields, exc.detail)
            metrics.count("inbox_messages_dead", sender)
            result.dead_lettered += 1
        except TransientMessageError:
            close_old_connections()
            result.retried += 1
            return  # not acknowledged: redelivered after INBOX_CLAIM_IDLE_MS
        else:
            if receipt.outcome == InboxOutcome.PROCESSED:
                result.processed += 1
            elif receipt.outcome == InboxOutcome.DUPLICATE:
                result.duplicates += 1
            else:
                result.dead += 1
        self.client.xack(stream, self.group, entry_id)

    def _dead_letter(
        self, stream: str, entry_id: str, fields: Mapping[str, str] | None, error: str
    ) -> None:
        """Keep an unattributable message for operators, with where it came from and why."""
        self.client.xadd(
            settings.INBOX_DEAD_LETTER_STREAM,
            {
                "stream": stream,
                "entry_id": entry_id,
                "error": error[:1000],
                STREAM_FIELD: (fields or {}).get(STREAM_FIELD, ""),
            },
            maxlen=settings.OUTBOX_STREAM_MAXLEN,
            approximate=True,
        )
        logger.error(
            "inbox: unattributable message dead-lettered: stream=%s entry=%s", stream, entry_id
        )
