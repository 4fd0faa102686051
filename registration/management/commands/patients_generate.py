"""Generate a synthetic patient population for a tenant and load it in bulk.

Writes the truth file (which records are the same person) beside it, for matching benchmarks:
`manage.py patients_generate --tenant demo --count 100000 --truth .local/truth.csv`.
"""

import csv
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser

from registration.services.bulk import patients_bulk_load
from registration.services.inputs import PatientInput
from registration.services.synthetic import synthetic_to_input
from registration.synthetic import SyntheticPerson, generate
from tenancy.models import Tenant


def _with_truth(
    people: Iterator[SyntheticPerson], truth: TextIO | None
) -> Iterator[tuple[UUID, PatientInput]]:
    writer = csv.writer(truth) if truth else None
    if writer:
        writer.writerow(("record_id", "person_id"))
    for person in people:
        if writer:
            writer.writerow((person.record_id, person.person_id))
        yield synthetic_to_input(person)


class Command(BaseCommand):
    """Load N synthetic patients (with known duplicates) into a tenant."""

    help = (
        "Generate and bulk-load synthetic patients with a controlled fraction of true duplicates."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("--count", type=int, default=1000)
        parser.add_argument("--duplicate-rate", type=float, default=0.1)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--batch-size", type=int, default=10_000)
        parser.add_argument("--truth", type=Path, help="Write record_id,person_id CSV here.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {options['tenant']!r}.")
        if options["count"] < 1:
            raise CommandError("--count must be at least 1.")
        people = generate(
            options["count"],
            seed=options["seed"],
            duplicate_rate=options["duplicate_rate"],
            tenant_label=tenant.slug,
        )
        started = time.perf_counter()
        truth_file = (
            options["truth"].open("w", encoding="utf-8", newline="") if options["truth"] else None
        )
        try:
            report = patients_bulk_load(
                tenant_id=tenant.id,
                actor=None,
                records=_with_truth(people, truth_file),
                batch_size=options["batch_size"],
            )
        finally:
            if truth_file:
                truth_file.close()
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"loaded {report.loaded} patients ({report.loaded / elapsed:,.0f}/s), "
            f"rejected {report.rejected}, "
            f"identifiers skipped as already in use {report.identifiers_skipped}"
        )
        for record_id, errors in report.rejections[:10]:
            self.stdout.write(f"  rejected {record_id}: {', '.join(errors)}")
