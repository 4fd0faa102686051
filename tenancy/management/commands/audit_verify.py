"""`manage.py audit_verify`: recompute every tenant's audit hash chain; fail on tampering."""

import re
from argparse import ArgumentTypeError
from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenancy.db import tenant_scope
from tenancy.models import Tenant
from tenancy.services.audit_chain import audit_verify


def _head(text: str) -> tuple[int, str]:
    """SEQ:HASH as published in `audit.chain-sealed` (`seq`, `row_hash`)."""
    seq, _, row_hash = text.partition(":")
    if not (seq.isdigit() and int(seq) > 0 and re.fullmatch(r"[0-9a-fA-F]{64}", row_hash)):
        raise ArgumentTypeError("give SEQ:HASH, e.g. 1842:a1b2… (64 hex digits)")
    return int(seq), row_hash.lower()


class Command(BaseCommand):
    """Exit non-zero, listing audit ids, when any row was changed, deleted or slipped in."""

    help = (
        "Verify the audit hash chain: --tenant UUID (default: every tenant); with --tenant, "
        "--head SEQ:HASH checks it against a head published as an audit.chain-sealed event."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """--tenant, --head."""
        parser.add_argument("--tenant", type=UUID, default=None)
        parser.add_argument("--head", type=_head, default=None, metavar="SEQ:HASH")

    def handle(self, *args: Any, **options: Any) -> None:
        """One tenant scope per tenant; print a line per tenant and per problem."""
        if options["head"] is not None and options["tenant"] is None:
            raise CommandError("--head needs --tenant (a head belongs to one tenant's chain)")
        tenants = (
            [options["tenant"]]
            if options["tenant"]
            else list(Tenant.objects.order_by("slug").values_list("id", flat=True))
        )
        failed = 0
        for tenant_id in tenants:
            with tenant_scope(tenant_id):
                verified, problems = audit_verify(head=options["head"])
            self.stdout.write(f"tenant {tenant_id}: {verified} sealed rows verified")
            for problem in problems:
                self.stdout.write(f"tenant {tenant_id}: TAMPERED {problem}")
            failed += bool(problems)
        if failed:
            raise CommandError(f"audit chain broken in {failed} tenant(s)")
