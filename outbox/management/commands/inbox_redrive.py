"""`manage.py inbox_redrive`: process dead inbox messages again (after fixing the cause)."""

from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandParser

from outbox.services.inbox import inbox_redrive
from tenancy.db import tenant_scope
from tenancy.models import Tenant


class Command(BaseCommand):
    """Re-drive per tenant (each in its own tenant scope), all dead messages or chosen ones."""

    help = "Re-drive dead inbox messages: --tenant UUID (default: every tenant), --id, --sender."

    def add_arguments(self, parser: CommandParser) -> None:
        """--tenant, --id (repeatable), --sender."""
        parser.add_argument("--tenant", type=UUID, default=None)
        parser.add_argument("--id", action="append", type=int, default=None, dest="ids")
        parser.add_argument("--sender", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        """Report processed / still dead per tenant."""
        tenants = (
            [options["tenant"]]
            if options["tenant"]
            else list(Tenant.objects.order_by("slug").values_list("id", flat=True))
        )
        processed = still_dead = 0
        for tenant_id in tenants:
            with tenant_scope(tenant_id):
                result = inbox_redrive(
                    actor=None, message_ids=options["ids"], sender=options["sender"]
                )
            processed += result.processed
            still_dead += result.still_dead
        self.stdout.write(f"processed {processed}, still dead {still_dead}")
