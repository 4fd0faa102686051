"""`manage.py outbox_redrive`: put dead outbox events back to pending (after fixing the cause)."""

from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser

from outbox.services.relay import outbox_redrive


class Command(BaseCommand):
    """Re-drive dead events: the relay publishes them again on its next batch."""

    help = "Set dead outbox events back to pending: --event-id ID (repeatable) or --all."

    def add_arguments(self, parser: CommandParser) -> None:
        """--event-id (repeatable) or --all."""
        parser.add_argument("--event-id", action="append", type=UUID, default=[])
        parser.add_argument("--all", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        """Refuse to guess: one of the two selectors is required."""
        if not options["all"] and not options["event_id"]:
            raise CommandError("Name --event-id ID (repeatable) or --all.")
        count = outbox_redrive(event_ids=None if options["all"] else options["event_id"])
        self.stdout.write(f"re-driven {count}")
