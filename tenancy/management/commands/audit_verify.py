"""`manage.py audit_verify`: recompute every tenant's audit hash chain; fail on tampering."""

from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenancy.db import tenant_scope
from tenancy.models import Tenant
from tenancy.services.audit_chain import audit_verify


class Command(BaseCommand):
    """Exit non-zero, listing audit ids, when any row was changed, deleted or slipped in."""

    help = "Verify the audit hash chain: --tenant UUID (default: every tenant)."

    def add_arguments(self, parser: CommandParser) -> None:
        """--tenant."""
        parser.add_argument("--tenant", type=UUID, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        """One tenant scope per tenant; print a line per tenant and per problem."""
        tenants = (
            [options["tenant"]]
            if options["tenant"]
            else list(Tenant.objects.order_by("slug").values_list("id", flat=True))
        )
        failed = 0
        for tenant_id in tenants:
            with tenant_scope(tenant_id):
                verified, problems = audit_verify()
            self.stdout.write(f"tenant {tenant_id}: {verified} sealed rows verified")
            for problem in problems:
                self.stdout.write(f"tenant {tenant_id}: TAMPERED {problem}")
            failed += bool(problems)
        if failed:
            raise CommandError(f"audit chain broken in {failed} tenant(s)")
