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
from django.utils import timezone

from mpi.models import BatchJob, CandidateGrade, CandidateStatus, MatchCandidate
from mpi.services.candidates import ProposalSummary
from registration.models import Patient, PatientLink, PatientLinkType
from tenancy.db import current_tenant_id
from tenancy.errors import ConflictError, NotFoundError, ValidationFailedError
from tenancy.principal import Principal
from tenancy.services.audit import audit_record

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
    The batch deduplication job calls this after each chunk.
    """
    linked = 0
    with transaction.atomic():
        pairs = MatchCandidate.objects.select_for_update().filter(
            status=CandidateStatus.OPEN, grade=CandidateGrade.CERTAIN, auto_linked=False
        )
        if candidate_ids is not None:
            pairs = pairs.filter(id__in=list(candidate_ids))
        active = Patient.objects.filter(active=True)
        for pair in pairs.order_by("patient_low_id", "patient_high_id"):
            if active.filter(id__in=(pair.patient_low_id, pair.patient_high_id)).count() != 2:
                continue
            enterprise_link_pair(
                actor=actor,
                patient_id=pair.patient_low_id,
                other_patient_id=pair.patient_high_id,
                source="auto",
            )
            pair.auto_linked = True
            pair.save(update_fields=["auto_linked", "updated_at"])
            linked += 1
    return linked


def batch_chunk_auto_link(job: BatchJob, summary: ProposalSummary) -> None:
    """Batch deduplication's chunk hook: link the CERTAIN pairs as soon as they are proposed.

    Runs inside the chunk's transaction, so a chunk's proposals and their links commit (or
    are lost and redone on resume) together.
    """
    del job
    # Only this chunk's pairs: chunks scored concurrently never wait on each other's rows.
    if summary.certain_ids:
        candidates_auto_link(actor=None, candidate_ids=summary.certain_ids)
