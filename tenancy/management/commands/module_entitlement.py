"""`manage.py module_entitlement`: a platform operator licenses or ends a tenant's module."""

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone

from tenancy.db import tenant_scope
from tenancy.errors import DomainError
from tenancy.models import ModuleEntitlement, Tenant
from tenancy.services.entitlements import module_entitlement_end, module_entitlement_grant


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise CommandError("Times need a time zone, e.g. 2027-01-01T00:00:00+00:00.")
    return value


class Command(BaseCommand):
    """Grant a window (--grant), end every current window of a module now (--end), or list."""

    help = (
        "--tenant SLUG (--grant MODULE [--from ISO] [--until ISO] | --end MODULE | --list); "
        "audited with origin 'platform-command'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """--tenant and one action."""
        parser.add_argument("--tenant", required=True, help="tenant slug")
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--grant", metavar="MODULE")
        action.add_argument("--end", metavar="MODULE")
        action.add_argument("--list", action="store_true")
        parser.add_argument("--from", dest="valid_from", default=None)
        parser.add_argument("--until", dest="valid_until", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        """Apply the action inside the tenant's scope and print the resulting windows."""
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError("No such tenant.")
        with tenant_scope(tenant.id):
            try:
                if options["grant"]:
                    module_entitlement_grant(
                        actor=None,
                        module=options["grant"],
                        valid_from=_when(options["valid_from"]),
                        valid_until=_when(options["valid_until"]),
                        origin="platform-command",
                    )
                elif options["end"]:
                    current = ModuleEntitlement.objects.filter(
                        Q(valid_until__isnull=True) | Q(valid_until__gt=timezone.now()),
                        module=options["end"],
                        valid_from__lt=timezone.now(),
                    )
                    for window in current:
                        module_entitlement_end(
                            actor=None, entitlement_id=window.id, origin="platform-command"
                        )
            except DomainError as exc:
                raise CommandError(exc.detail) from exc
            for window in ModuleEntitlement.objects.order_by("module", "valid_from"):
                until = window.valid_until.isoformat() if window.valid_until else "open"
                self.stdout.write(f"{window.module}\t{window.valid_from.isoformat()}\t{until}")
