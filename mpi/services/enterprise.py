"""Enterprise identity: records of one person that stay separate (different facilities or
sources) share one enterprise id (EUID), which survives merges.

Every patient gets its own EUID when it is created (a database default on
`Patient.enterprise_id`, so bulk loads get one too); linking two records puts both records'
groups under one EUID (the first record's) and leaves `seealso` links between the two records.
A merge moves the subsumed record's group to the survivor's EUID (`mpi.services.merges`).
"""

from collections.abc import Iterable
from uuid import UUID

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from mpi.models import BatchJob, CandidateGrade, CandidateStatus, MatchCandidate
from mpi.services.candidates import ProposalSummary
from registration.models import Patient, PatientLink, PatientLinkType
from tenancy.db import current_tenant_id, tenant_cursor
from tenancy.errors import ConflictError, NotFoundError, ValidationFailedError
from tenancy.principal import Principal
from tenancy.services.audit import audit_record, audit_records

LINK_SOURCES = ("steward", "auto", "batch", "online")


def enterprise_link_pair(
    *, actor: Principal | None, patient_id: UUID, other_patient_id: UUID, source: str
) -> UUID:
    """Record that two active records are the same person without merging them; the EUID.

    The other record's whole enterprise group joins the first record's EUID. Idempotent: a
    pair already under one EUID is left as it is. Records are locked in id order.
    """
    if patient_id == other_patient_id:
        raise ValidationFailedError("A patient cannot be linked with itself.")
    if source not in LINK_SOURCES:
        raise ValidationFailedError(f"Unknown link source; use one of {list(LINK_SOURCES)}.")
    with transaction.atomic():
        locked = {
            p.id: p
            for p in Patient.objects.select_for_update()
            .filter(id__in=(patient_id, other_patient_id))
            .order_by("id")
        }
        if len(locked) != 2:
            raise NotFoundError("No such patient.")
        patient, other = locked[patient_id], locked[other_patient_id]
        if not (patient.active and other.active):
            raise ConflictError("Only active records can be linked.")
        euid = patient.enterprise_id
        if other.enterprise_id == euid:
            return euid
        moved = Patient.objects.filter(enterprise_id=other.enterprise_id).update(enterprise_id=euid)
        now = timezone.now()
        PatientLink.objects.bulk_create(
            [
                PatientLink(
                    tenant_id=current_tenant_id(),
                    patient_id=a,
                    other_id=b,
                    type=PatientLinkType.SEEALSO,
                    created_at=now,
                )
                for a, b in ((patient_id, other_patient_id), (other_patient_id, patient_id))
            ],
            ignore_conflicts=True,
        )
        audit_record(
            actor=actor,
            action="patient.enterprise_linked",
            object_type="patient",
            object_id=str(patient_id),
            details={
                "other_patient_id": str(other_patient_id),
                "enterprise_id": str(euid),
                "previous_enterprise_id": str(other.enterprise_id),
                "records_moved": moved,
                "source": source,
            },
        )
    return euid


def candidates_auto_link(
    *, actor: Principal | None, candidate_ids: Iterable[UUID] | None = None
) -> int:
    """Link every open CERTAIN candidate not linked yet (or only those given); how many.

    The pair stays open in the queue (`auto_linked` set) so a steward can still review it.
    The batch deduplication job calls this after each chunk, so it works set by set: the
    candidates and their patients are locked in one statement each (patients in id order),
    the enterprise groups are joined in pair order exactly as `enterprise_link_pair` would
    one pair after another (the other record's group joins the first record's EUID), then
    one update moves the groups, one insert writes the `seealso` links and one the audit
    rows. Pairs with an inactive record are skipped.
    """
    with transaction.atomic():
        pairs = MatchCandidate.objects.select_for_update()
        if candidate_ids is None:
            pairs = pairs.filter(
                status=CandidateStatus.OPEN, grade=CandidateGrade.CERTAIN, auto_linked=False
            )
        else:
            # Given ids: by primary key alone, the rest checked on the locked rows. With the
            # state in the statement, stale statistics on a table a batch is filling made
            # PostgreSQL walk the queue index over every open candidate (0.5 s per chunk at
            # 258k candidates) instead of fetching a few rows by id.
            pairs = pairs.filter(id__in=list(candidate_ids))
        rows = [
            (candidate_id, low, high)
            for candidate_id, low, high, status, grade, auto_linked in pairs.order_by(
                "patient_low_id", "patient_high_id"
            ).values_list(
                "id", "patient_low_id", "patient_high_id", "status", "grade", "auto_linked"
            )
            if status == CandidateStatus.OPEN
            and grade == CandidateGrade.CERTAIN
            and not auto_linked
        ]
        if not rows:
            return 0
        return _auto_link_rows(actor, rows)


def _auto_link_rows(actor: Principal | None, rows: list[tuple[UUID, UUID, UUID]]) -> int:
    """Link locked candidate rows (id, low, high), in pair order; how many were linked."""
    involved = {patient_id for _, low, high in rows for patient_id in (low, high)}
    euid_of = dict(
        Patient.objects.select_for_update()
        .filter(id__in=involved, active=True)
        .order_by("id")
        .values_list("id", "enterprise_id")
    )
    groups = _EnterpriseGroups(
        Patient.objects.filter(enterprise_id__in=set(euid_of.values()))
        .values("enterprise_id")
        .annotate(records=Count("id"))
        .values_list("enterprise_id", "records")
    )
    linked: list[UUID] = []
    joins: list[tuple[UUID, UUID, UUID, UUID, int]] = []
    for candidate_id, low, high in rows:
        if low not in euid_of or high not in euid_of:
            continue
        linked.append(candidate_id)
        euid, previous = groups.find(euid_of[low]), groups.find(euid_of[high])
        if euid != previous:
            joins.append((low, high, euid, previous, groups.join(previous, into=euid)))
    _move_groups(groups.moves())
    _link_and_audit(actor, joins, source="auto")
    MatchCandidate.objects.filter(id__in=linked).update(auto_linked=True, updated_at=timezone.now())
    return len(linked)


class _EnterpriseGroups:
    """Enterprise groups being joined (a union-find over EUIDs with their record counts)."""

    def __init__(self, sizes: Iterable[tuple[UUID, int]]) -> None:
        self._size = dict(sizes)
        self._parent: dict[UUID, UUID] = {}

    def find(self, euid: UUID) -> UUID:
        while (parent := self._parent.get(euid)) is not None:
            euid = parent
        return euid

    def join(self, group: UUID, *, into: UUID) -> int:
        """Put `group` under `into`; how many records moved."""
        moved = self._size.get(group, 0)
        self._parent[group] = into
        self._size[into] = self._size.get(into, 0) + moved
        return moved

    def moves(self) -> dict[UUID, UUID]:
        """Every joined EUID and the EUID its records end up under."""
        return {euid: self.find(euid) for euid in self._parent}


def _move_groups(moves: dict[UUID, UUID]) -> None:
    """Move the records of each old EUID to its new one, in one statement."""
    if not moves:
        return
    with tenant_cursor() as cursor:
        cursor.execute(
            "UPDATE registration_patient p SET enterprise_id = m.new"
            "  FROM unnest(%s::uuid[], %s::uuid[]) AS m(old, new)"
            " WHERE p.enterprise_id = m.old",
            [list(moves), list(moves.values())],
        )


def _link_and_audit(
    actor: Principal | None, joins: list[tuple[UUID, UUID, UUID, UUID, int]], *, source: str
) -> None:
    """`seealso` links both ways and one `patient.enterprise_linked` audit row per join."""
    if not joins:
        return
    now = timezone.now()
    tenant_id = current_tenant_id()
    PatientLink.objects.bulk_create(
        [
            PatientLink(
                tenant_id=tenant_id,
                patient_id=a,
                other_id=b,
                type=PatientLinkType.SEEALSO,
                created_at=now,
            )
            for low, high, *_ in joins
            for a, b in ((low, high), (high, low))
        ],
        ignore_conflicts=True,
    )
    audit_records(
        actor=actor,
        action="patient.enterprise_linked",
        object_type="patient",
        entries=(
            (
                str(low),
                {
                    "other_patient_id": str(high),
                    "enterprise_id": str(euid),
                    "previous_enterprise_id": str(previous),
                    "records_moved": moved,
                    "source": source,
                },
            )
            for low, high, euid, previous, moved in joins
        ),
    )


def batch_chunk_auto_link(job: BatchJob, summary: ProposalSummary) -> None:
    """Batch deduplication's chunk hook: link the CERTAIN pairs as soon as they are proposed.

    Runs inside the chunk's transaction, so a chunk's proposals and their links commit (or
    are lost and redone on resume) together.
    """
    del job
    # Only this chunk's pairs: chunks scored concurrently never wait on each other's rows.
    # The proposal's upsert wrote these rows in this transaction and holds their locks, so
    # they are linked as returned, without reading them again.
    if summary.certain_unlinked:
        with transaction.atomic():
            _auto_link_rows(None, sorted(summary.certain_unlinked, key=lambda row: row[1:]))
