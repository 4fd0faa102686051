"""`manage.py audit_seal`: extend every tenant's audit hash chain (beat runs the task too)."""

from datetime import timedelta
from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandParser

from tenancy.db import tenant_scope
from tenancy.models import Tenant
from tenancy.services.audit_chain import audit_seal


class Command(BaseCommand):
    """Seal the audit rows older than the horizon, tenant by tenant."""

    help = "Seal audit rows into the hash chain: --tenant UUID, --horizon SECONDS."

    def add_arguments(self, parser: CommandParser) -> None:
        """--tenant, --horizon."""
        parser.add_argument("--tenant", type=UUID, default=None)
        parser.add_argument("--horizon", type=int, default=None, help="seconds (default setting)")

    def handle(self, *args: Any, **options: Any) -> None:
        """Print how many rows were sealed."""
        horizon = timedelta(seconds=options["horizon"]) if options["horizon"] is not None else None
        tenants = (
            [options["tenant"]]
            if options["tenant"]
            else list(Tenant.objects.order_by("slug").values_list("id", flat=True))
        )
        sealed = 0
        for tenant_id in tenants:
            with tenant_scope(tenant_id):
                sealed += audit_seal(horizon=horizon)
        self.stdout.write(f"sealed {sealed}")
