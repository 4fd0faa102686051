"""Import FHIR R4 Patients from NDJSON (one Patient per line) into a tenant, in bulk.

`manage.py fhir_import_ndjson --tenant demo patients.ndjson [--errors rejected.ndjson]`

Streams the file (memory stays bounded by the batch size, whatever the file's length), maps
each line with the FHIR mapper, validates it with the registration rules, and hands the valid
ones to `patients_bulk_load` (COPY, batches, one `patient.registered` event each). Every
rejected line is reported with its line number and error codes, never its content. Matching
is deferred to the MPI's batch dedupe job, as for every bulk load.
"""

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Protocol, TextIO
from uuid import UUID, uuid4

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from registration.fhir.mapping import check_input_against, patient_input_from_json
from registration.selectors.domains import identifier_domains
from registration.services.bulk import patients_bulk_load
from registration.services.inputs import PatientInput
from registration.services.validation import validate_patient
from tenancy.db import tenant_scope
from tenancy.errors import DomainError
from tenancy.models import Tenant


def bulk_dropped_elements(data: PatientInput) -> list[str]:
    """Elements of `data` that the bulk path does not store (reported, so nothing is silent)."""
    dropped = []
    if data.contacts:
        dropped.append("contact")
    if any(n.prefix or n.suffix or n.period_start or n.period_end for n in data.names):
        dropped.append("name.prefix/suffix/period")
    if any(i.period_start or i.period_end for i in data.identifiers):
        dropped.append("identifier.period")
    if any(t.rank is not None for t in data.telecoms):
        dropped.append("telecom.rank")
    if any(a.district or a.type or a.period_start or a.period_end for a in data.addresses):
        dropped.append("address.district/type/period")
    if data.preferred_facility:
        dropped.append("preferred-facility")
    if data.mothers_maiden_name:
        dropped.append("mothersMaidenName")
    return dropped


class Writer(Protocol):
    """Where reports go (a file, or the command's stdout/stderr)."""

    def write(self, text: str, /) -> object:
        """Write `text`."""


class Importer:
    """Turns NDJSON lines into (id, PatientInput) records, reporting what it rejects."""

    def __init__(
        self, *, domains: dict[str, Any], errors: Writer, progress: Writer, every: int
    ) -> None:
        self.domains = domains
        self.errors = errors
        self.progress = progress
        self.every = every
        self.read = 0
        self.rejected = 0
        self.dropped: Counter[str] = Counter()
        self.started = time.perf_counter()

    def _reject(self, line: int, codes: list[str]) -> None:
        self.rejected += 1
        self.errors.write(json.dumps({"line": line, "errors": codes}) + "\n")

    def _record(self, line: int, text: str) -> PatientInput | None:
        try:
            body = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._reject(line, ["json: not a JSON object"])
            return None
        try:
            data = patient_input_from_json(body).data
            check_input_against(body, None)
        except DomainError as exc:
            self._reject(line, [f"{e.field}: {e.code}" for e in exc.errors] or [exc.code])
            return None
        if data.confidentiality != "normal":
            self._reject(line, ["Patient.meta.security: restricted records are registered singly"])
            return None
        errors = validate_patient(data, today=timezone.localdate(), domains=self.domains)
        if errors:
            self._reject(line, [f"{e.field}: {e.code}" for e in errors])
            return None
        self.dropped.update(bulk_dropped_elements(data))
        return data

    def records(self, lines: TextIO) -> Iterator[tuple[UUID, PatientInput]]:
        """The valid records of `lines`, lazily (the bulk loader pulls them batch by batch)."""
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            self.read += 1
            data = self._record(number, text)
            if data is not None:
                yield uuid4(), data
            if self.read % self.every == 0:
                rate = self.read / max(time.perf_counter() - self.started, 1e-9)
                self.progress.write(
                    f"read {self.read:,} records ({rate:,.0f}/s), rejected {self.rejected:,}\n"
                )


class Command(BaseCommand):
    """Bulk-import FHIR Patients from an NDJSON file into a tenant."""

    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="NDJSON file of FHIR Patients ('-': stdin).")
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("--batch-size", type=int, default=10_000)
        parser.add_argument("--progress-every", type=int, default=100_000)
        parser.add_argument(
            "--errors", type=Path, help="Write rejected lines' numbers and error codes here."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {options['tenant']!r}.")
        if options["batch_size"] < 1 or options["progress_every"] < 1:
            raise CommandError("--batch-size and --progress-every must be at least 1.")
        with tenant_scope(tenant.id):
            domains = identifier_domains()
        path = Path(options["path"])
        with ExitStack() as files:
            source: TextIO = (
                sys.stdin
                if str(path) == "-"
                else files.enter_context(path.open(encoding="utf-8", errors="replace"))
            )
            errors: Writer = (
                files.enter_context(Path(options["errors"]).open("w", encoding="utf-8"))
                if options["errors"]
                else self.stderr
            )
            importer = Importer(
                domains=domains,
                errors=errors,
                progress=self.stdout,
                every=options["progress_every"],
            )
            report = patients_bulk_load(
                tenant_id=tenant.id,
                actor=None,
                records=importer.records(source),
                batch_size=options["batch_size"],
            )
        self.stdout.write(
            f"read {importer.read}, loaded {report.loaded}, "
            f"rejected {importer.rejected + report.rejected}, "
            f"identifiers skipped as already in use {report.identifiers_skipped}"
        )
        for element, count in sorted(importer.dropped.items()):
            self.stdout.write(f"  not stored by the bulk path: {element} in {count} records")
