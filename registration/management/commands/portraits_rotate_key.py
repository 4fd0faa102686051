"""Re-wrap every portrait's data key with another key-encryption key (key rotation).

Resumable: each batch commits on its own and only rows still under another key are taken, so
an interrupted run is simply started again. The image ciphertexts are not touched. A portrait
that fails authentication (or names a key that is not configured) is skipped, reported by id at
the end and the command exits non-zero; the rest is rotated.
"""

from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from registration.services.portraits import portraits_rewrap_batch
from tenancy.db import tenant_scope
from tenancy.models import Tenant


class Command(BaseCommand):
    """`manage.py portraits_rotate_key [--to KEY_ID] [--tenant UUID] [--batch N]`."""

    help = "Re-wrap portrait data keys with the active (or the given) key-encryption key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--to", default="", help="Key id (default PORTRAIT_ACTIVE_KEY_ID).")
        parser.add_argument("--tenant", type=UUID, default=None, help="Only this tenant.")
        parser.add_argument("--batch", type=int, default=100, help="Portraits per commit.")
        parser.add_argument(
            "--max-batches", type=int, default=0, help="Stop after N batches (0: until done)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        to_key_id: str = options["to"] or settings.PORTRAIT_ACTIVE_KEY_ID
        if to_key_id not in settings.PORTRAIT_KEYS:
            raise CommandError("The target key id is not configured in PORTRAIT_KEYS.")
        if options["batch"] < 1:
            raise CommandError("--batch must be at least 1.")
        tenants = (
            [options["tenant"]]
            if options["tenant"]
            else list(Tenant.objects.order_by("id").values_list("id", flat=True))
        )
        total, batches = 0, 0
        failed: list[str] = []
        for tenant_id in tenants:
            after_id = 0
            while not options["max_batches"] or batches < options["max_batches"]:
                with tenant_scope(tenant_id):
                    batch = portraits_rewrap_batch(
                        actor=None, to_key_id=to_key_id, limit=options["batch"], after_id=after_id
                    )
                batches += 1
                total += batch.rewrapped
                failed.extend(f"{tenant_id}/{portrait_id}" for portrait_id in batch.failed_ids)
                after_id = batch.last_id
                if batch.taken < options["batch"]:
                    break
        self.stdout.write(f"re-wrapped {total} portrait key(s) to {to_key_id}")
        if failed:
            raise CommandError(
                f"{len(failed)} portrait(s) failed authentication or name a key that is not "
                f"configured and stay under their old key (tenant/portrait id): {', '.join(failed)}"
            )
