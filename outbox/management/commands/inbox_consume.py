"""`manage.py inbox_consume`: read the senders' streams as a long-lived consumer."""

import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from outbox.consumer import InboxStreamConsumer


class Command(BaseCommand):
    """Consume with blocking reads (lower latency than the beat-driven task)."""

    help = "Consume the inbox streams until stopped (SIGTERM/SIGINT finish the message)."

    def add_arguments(self, parser: CommandParser) -> None:
        """--once, --block-ms, --max-seconds, --consumer."""
        parser.add_argument("--once", action="store_true")
        parser.add_argument("--block-ms", type=int, default=2000)
        parser.add_argument("--max-seconds", type=float, default=None)
        parser.add_argument("--consumer", default=None, help="consumer name (default host-pid)")

    def handle(self, *args: Any, **options: Any) -> None:
        """Loop over consume() passes."""
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        consumer = InboxStreamConsumer(consumer=options["consumer"])
        deadline = (
            None if options["max_seconds"] is None else time.monotonic() + options["max_seconds"]
        )
        read = 0
        while not stopping:
            close_old_connections()
            read += consumer.consume(block_ms=None if options["once"] else options["block_ms"]).read
            if options["once"] or (deadline is not None and time.monotonic() >= deadline):
                break
        self.stdout.write(f"read {read}")
