"""`manage.py outbox_relay`: run the relay as a long-lived process (instead of Celery tasks).

Each time round the loop it beats the `relay` heartbeat, which its liveness probe checks
(`manage.py heartbeat_check relay`): a relay stuck in a batch stops beating and is restarted."""

import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from outbox.relaydb import close_all_relay_connections
from outbox.services.relay import relay_drain
from tenancy.heartbeat import heartbeat


class Command(BaseCommand):
    """Drain the outbox in a loop, sleeping briefly when nothing is due."""

    help = "Publish outbox events to the bus until stopped (SIGTERM/SIGINT finish the batch)."

    def add_arguments(self, parser: CommandParser) -> None:
        """--once, --batch-size, --idle-sleep, --max-seconds."""
        parser.add_argument("--once", action="store_true", help="drain once and exit")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--idle-sleep", type=float, default=0.2)
        parser.add_argument("--max-seconds", type=float, default=None, help="stop after this long")

    def handle(self, *args: Any, **options: Any) -> None:
        """Loop until signalled (or --once / --max-seconds)."""
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        deadline = (
            None if options["max_seconds"] is None else time.monotonic() + options["max_seconds"]
        )
        published = 0
        try:
            while not stopping:
                result = relay_drain(batch_size=options["batch_size"], time_budget=1.0)
                heartbeat("relay")  # the liveness probe: `heartbeat_check relay`
                published += result.published
                if options["once"] or (deadline is not None and time.monotonic() >= deadline):
                    break
                if result.fetched == 0 or result.bus_unavailable:
                    time.sleep(options["idle_sleep"])
        finally:
            close_all_relay_connections()
        self.stdout.write(f"published {published}")
