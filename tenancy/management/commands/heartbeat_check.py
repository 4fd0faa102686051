"""`manage.py heartbeat_check NAME --max-age N`: the exec probe of the worker and the relay."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenancy.heartbeat import heartbeat_age


class Command(BaseCommand):
    """Exit 0 when NAME's heartbeat is at most N seconds old, else fail (exit status 1)."""

    help = "Fail unless the named process beat within --max-age seconds (a liveness probe)."
    requires_system_checks: list[str] = []  # a probe: as little work as possible

    def add_arguments(self, parser: CommandParser) -> None:
        """NAME and --max-age."""
        parser.add_argument("name", help="worker, relay, ...")
        parser.add_argument("--max-age", type=float, required=True, help="seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        """Compare the heartbeat's age with the limit."""
        name, limit = options["name"], options["max_age"]
        try:
            age = heartbeat_age(name)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if age is None:
            raise CommandError(f"no heartbeat from {name} yet")
        if age > limit:
            raise CommandError(f"the {name} heartbeat is {age:.0f} s old (limit {limit:.0f} s)")
        self.stdout.write(f"{name} beat {age:.1f} s ago")
