"""`manage.py entitlements_sync`: reconcile ModuleEntitlement with the licensing service."""

from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser

from outbox.clients.licensing import LicensingClient
from outbox.services.entitlements import entitlements_reconcile
from tenancy.db import tenant_scope
from tenancy.models import Tenant


class Command(BaseCommand):
    """Fetch each tenant's entitlements and apply them (events keep them current otherwise)."""

    help = "Apply the licensing service's entitlements: --tenant UUID (default: every tenant)."

    def add_arguments(self, parser: CommandParser) -> None:
        """--tenant, --url."""
        parser.add_argument("--tenant", type=UUID, default=None)
        parser.add_argument("--url", default=None, help="licensing base URL (default: settings)")

    def handle(self, *args: Any, **options: Any) -> None:
        """One tenant scope per tenant; report the number of changes."""
        client = LicensingClient(options["url"])
        if not client.base_url:
            raise CommandError("LICENSING_SERVICE_URL is not configured (or pass --url).")
        tenants = (
            [options["tenant"]]
            if options["tenant"]
            else list(Tenant.objects.filter(is_active=True).values_list("id", flat=True))
        )
        changed = 0
        for tenant_id in tenants:
            windows = client.entitlements(tenant_id)
            with tenant_scope(tenant_id):
                changed += entitlements_reconcile(windows=windows, origin="licensing-sync")
        self.stdout.write(f"changed {changed}")
