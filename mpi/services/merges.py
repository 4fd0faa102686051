"""Merging two patient records and undoing it: preview, execute, ledger, undo.

The MPI owns the ledger (`PatientMerge`) and survivorship; registration owns the patient rows
(`registration.services.merging`). Every merge and unmerge is one transaction: both patients
locked in id order (so two merges of overlapping pairs wait for each other instead of
deadlocking), stale versions refused, the rows written, the ledger row, an audit row and the
outbox event (`patient.merged` / `patient.unmerged`) together.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from mpi.models import (
    CandidateStatus,
    MatchCandidate,
    MatchDecision,
    MatchDecisionKind,
    MergeStatus,
    PatientMerge,
)
from mpi.services.survivorship import (
    FieldOutcome,
    Side,
    Survivorship,
    survive,
    validate_field_choices,
)
from outbox.services.outbox import outbox_enqueue
from registration.models import IdentifierUse, Patient, PatientLink, PatientLinkType
from registration.selectors.patients import with_children
from registration.services.inputs import PatientInput
from registration.services.merging import (
    enterprise_ids_of,
    patient_rows_snapshot,
    patients_merge_rows,
    patients_unmerge_rows,
)
from registration.services.patients import patient_input_of
from tenancy.db import current_tenant_id
from tenancy.errors import (
    ConflictError,
    FieldError,
    NotFoundError,
    PreconditionFailedError,
    PreconditionRequiredError,
    ValidationFailedError,
)
from tenancy.principal import Principal
from tenancy.services.audit import audit_record

MAX_REASON_LENGTH = 500


class MergeRefusedError(ConflictError):
    """The merge cannot happen as asked (a record already merged away, or inactive)."""

    code = "merge-refused"
    title = "Merge refused"


class UnmergeRefusedError(ConflictError):
    """The merge cannot be undone now (already undone, or later merges build on it)."""

    code = "unmerge-refused"
    title = "Unmerge refused"


@dataclass(frozen=True, slots=True)
class MergePreview:
    """What a merge would produce; nothing is written."""

    survivor: Patient
    subsumed: Patient
    record: PatientInput
    outcomes: dict[str, FieldOutcome]


def _label(actor: Principal | None) -> str:
    return actor.label if actor else "system"


def _require_reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text or len(text) > MAX_REASON_LENGTH:
        raise ValidationFailedError(
            "A reason is required.",
            errors=[
                FieldError(
                    "reason", "required", f"Give a reason of 1 to {MAX_REASON_LENGTH} characters."
                )
            ],
        )
    return text


def _require_pair(survivor_id: UUID, subsumed_id: UUID) -> None:
    if survivor_id == subsumed_id:
        raise ValidationFailedError(
            "A patient cannot be merged into itself.",
            errors=[FieldError("subsumed_id", "same_patient", "Choose two different patients.")],
        )


def _require_mergeable(survivor: Patient, subsumed: Patient) -> None:
    for role, patient in (("survivor", survivor), ("subsumed", subsumed)):
        if not patient.active:
            raise MergeRefusedError(
                f"The {role} patient is inactive (merged or deactivated); merge active records."
            )


def _require_not_decided_apart(survivor_id: UUID, subsumed_id: UUID) -> None:
    """A steward's "different people" is final until the pair is reopened explicitly."""
    low, high = sorted((survivor_id, subsumed_id))
    if MatchDecision.objects.filter(
        patient_low=low, patient_high=high, decision=MatchDecisionKind.NOT_DUPLICATE
    ).exists():
        raise MergeRefusedError(
            "A steward decided these records are different people; reopen the pair first."
        )


def _survivorship(survivor: Patient, subsumed: Patient, choices: Mapping[str, str]) -> Survivorship:
    return survive(
        Side(record=patient_input_of(survivor), updated_at=survivor.updated_at),
        Side(record=patient_input_of(subsumed), updated_at=subsumed.updated_at),
        choices,
    )


def _with_old_identifiers(
    record: PatientInput, survivor: Patient, subsumed: Patient
) -> PatientInput:
    """The merged record's identifiers: the survivor's, then the subsumed's with use=old."""
    theirs = tuple(
        replace(identifier, use=IdentifierUse.OLD)
        for identifier in patient_input_of(subsumed).identifiers
    )
    return replace(record, identifiers=patient_input_of(survivor).identifiers + theirs)


def patients_merge_preview(
    *, survivor_id: UUID, subsumed_id: UUID, field_choices: Mapping[str, str] | None = None
) -> MergePreview:
    """The record a merge would produce, field by field with the rule that decided it.

    Nothing is written and nothing is locked; executing later re-checks everything.
    """
    _require_pair(survivor_id, subsumed_id)
    choices = validate_field_choices(field_choices or {})
    patients = {
        p.id: p for p in with_children(Patient.objects.filter(id__in=(survivor_id, subsumed_id)))
    }
    if len(patients) != 2:
        raise NotFoundError("No such patient.")
    survivor, subsumed = patients[survivor_id], patients[subsumed_id]
    _require_mergeable(survivor, subsumed)
    result = _survivorship(survivor, subsumed, choices)
    return MergePreview(
        survivor=survivor,
        subsumed=subsumed,
        record=_with_old_identifiers(result.record, survivor, subsumed),
        outcomes=result.outcomes,
    )


def _lock_patients(ids: list[UUID]) -> dict[UUID, Patient]:
    """Lock the patients' rows in id order (the one order every merge uses: no deadlock)."""
    locked = list(Patient.objects.select_for_update().filter(id__in=ids).order_by("id"))
    if len(locked) != len(set(ids)):
        raise NotFoundError("No such patient.")
    return {patient.id: patient for patient in locked}


def _require_versions(
    patients: Mapping[UUID, Patient], expected_versions: Mapping[UUID, int] | None
) -> None:
    expected = {UUID(str(k)): v for k, v in (expected_versions or {}).items()}
    missing = [pid for pid in patients if pid not in expected]
    if missing:
        raise PreconditionRequiredError(
            "Send the version you read of both patients (expected_versions)."
        )
    for patient_id, patient in patients.items():
        if patient.version != expected[patient_id]:
            raise PreconditionFailedError(
                f"Patient {patient_id} is at version {patient.version}; you sent "
                f"{expected[patient_id]}. Re-read both records and retry."
            )


def _settle_candidates(
    actor: Principal | None, survivor_id: UUID, subsumed_id: UUID, reason: str
) -> MatchCandidate | None:
    """The merged pair's candidate becomes merged; other open pairs of the subsumed, superseded."""
    low, high = sorted((survivor_id, subsumed_id))
    now = timezone.now()
    pair = (
        MatchCandidate.objects.select_for_update()
        .filter(patient_low=low, patient_high=high)
        .first()
    )
    if pair is not None:
        pair.status = CandidateStatus.MERGED
        pair.decided_by = _label(actor)
        pair.decided_at = now
        pair.reason = reason
        pair.save(update_fields=["status", "decided_by", "decided_at", "reason", "updated_at"])
    MatchCandidate.objects.filter(
        Q(patient_low=subsumed_id) | Q(patient_high=subsumed_id), status=CandidateStatus.OPEN
    ).exclude(patient_low=low, patient_high=high).update(
        status=CandidateStatus.SUPERSEDED, decided_at=now, updated_at=now
    )
    if not MatchDecision.objects.filter(patient_low=low, patient_high=high).exists():
        MatchDecision.objects.create(
            tenant_id=current_tenant_id(),
            patient_low_id=low,
            patient_high_id=high,
            decision=MatchDecisionKind.DUPLICATE,
            reason=reason,
            decided_by=_label(actor),
        )
    return pair


def _announce(
    actor: Principal | None,
    action: str,
    merge: PatientMerge,
    survivor: Patient,
    subsumed: Patient,
    **extra: Any,
) -> None:
    """Audit a merge step on both patients and emit its event (`action` is both the audit
    action and the event type), in the caller's transaction."""
    details = {
        "merge_id": str(merge.id),
        "survivor_id": str(survivor.id),
        "subsumed_id": str(subsumed.id),
        "survivor_version": survivor.version,
        "subsumed_version": subsumed.version,
        **extra,
    }
    for patient in (survivor, subsumed):
        audit_record(
            actor=actor,
            action=action,
            object_type="patient",
            object_id=str(patient.id),
            details=details,
        )
    outbox_enqueue(
        event_type=action,
        aggregate_type="patient",
        aggregate_id=survivor.id,
        payload=_event_payload(merge, survivor, subsumed),
        actor=actor,
    )


def _event_payload(merge: PatientMerge, survivor: Patient, subsumed: Patient) -> dict[str, Any]:
    return {
        "merge_id": str(merge.id),
        "survivor_id": str(survivor.id),
        "subsumed_id": str(subsumed.id),
        "survivor_version": survivor.version,
        "subsumed_version": subsumed.version,
    }


def patients_merge(
    *,
    actor: Principal | None,
    survivor_id: UUID,
    subsumed_id: UUID,
    field_choices: Mapping[str, str] | None,
    reason: str,
    expected_versions: Mapping[UUID, int] | None,
) -> PatientMerge:
    """Merge `subsumed` into `survivor`, keep a snapshot of everything changed, announce it.

    Refused with 404 for a patient not in the tenant (another tenant's patient is never
    visible, and the ledger's same-tenant foreign keys would refuse it anyway), 428 without
    both expected versions, 412 when either record changed since it was read, 409 when either
    is inactive (already merged or deactivated) or a steward decided the pair are different
    people (reopen it first), 422 for a bad reason or field choice.
    """
    _require_pair(survivor_id, subsumed_id)
    text = _require_reason(reason)
    choices = validate_field_choices(field_choices or {})
    with transaction.atomic():
        locked = _lock_patients([survivor_id, subsumed_id])
        _require_mergeable(locked[survivor_id], locked[subsumed_id])
        _require_not_decided_apart(survivor_id, subsumed_id)
        _require_versions(locked, expected_versions)
        survivor, subsumed = (
            with_children(Patient.objects.filter(id=pid)).get()
            for pid in (survivor_id, subsumed_id)
        )
        result = _survivorship(survivor, subsumed, choices)
        chained = list(
            PatientLink.objects.filter(other=subsumed, type=PatientLinkType.REPLACED_BY)
            .order_by("patient_id")
            .values_list("patient_id", flat=True)
        )
        affected = [survivor_id, subsumed_id, *chained]
        groups = [survivor.enterprise_id, subsumed.enterprise_id]
        before = patient_rows_snapshot(affected)
        enterprise_before = enterprise_ids_of(groups)
        now = timezone.now()
        merge_id = uuid.uuid4()
        rows = patients_merge_rows(
            survivor=survivor,
            subsumed=subsumed,
            merged=result.record,
            merge_id=merge_id,
            actor_label=_label(actor),
            now=now,
        )
        survivor.refresh_from_db()
        subsumed.refresh_from_db()
        candidate = _settle_candidates(actor, survivor_id, subsumed_id, text)
        merge = PatientMerge.objects.create(
            id=merge_id,
            tenant_id=current_tenant_id(),
            survivor=survivor,
            subsumed=subsumed,
            reason=text,
            field_choices=choices,
            survivorship={field: o.as_dict() for field, o in result.outcomes.items()},
            before=before,
            after=patient_rows_snapshot(affected),
            enterprise_before=enterprise_before,
            enterprise_after=enterprise_ids_of([survivor.enterprise_id]),
            copied_identifier_ids=rows.copied_identifier_ids,
            survivor_version=survivor.version,
            subsumed_version=subsumed.version,
            candidate=candidate,
            merged_by=_label(actor),
            merged_at=now,
        )
        _announce(actor, "patient.merged", merge, survivor, subsumed, field_choices=choices)
    return merge


def _later_merges(merge: PatientMerge) -> list[PatientMerge]:
    ids = (merge.survivor_id, merge.subsumed_id)
    return list(
        PatientMerge.objects.filter(status=MergeStatus.MERGED, merged_at__gt=merge.merged_at)
        .filter(Q(survivor_id__in=ids) | Q(subsumed_id__in=ids))
        .exclude(id=merge.id)
        .order_by("-merged_at")
    )


def patients_unmerge(*, actor: Principal | None, merge_id: UUID, reason: str) -> PatientMerge:
    """Undo a merge: both records back as the snapshot had them, later survivor edits kept.

    Refused (409) when the merge is already undone or when a later merge involves either record
    (undo those first: the error names them). Candidates are not reopened.
    """
    text = _require_reason(reason)
    with transaction.atomic():
        merge = PatientMerge.objects.select_for_update().filter(id=merge_id).first()
        if merge is None:
            raise NotFoundError("No such merge.")
        if merge.status != MergeStatus.MERGED:
            raise UnmergeRefusedError("This merge has already been undone.")
        _lock_patients([merge.survivor_id, merge.subsumed_id])
        later = _later_merges(merge)
        if later:
            raise UnmergeRefusedError(
                "Later merges involve these records; undo them first: "
                + ", ".join(str(m.id) for m in later)
            )
        now = timezone.now()
        try:
            with transaction.atomic():
                kept = patients_unmerge_rows(
                    survivor_id=merge.survivor_id,
                    subsumed_id=merge.subsumed_id,
                    before=merge.before,
                    after=merge.after,
                    merge_id=merge.id,
                    copied_identifier_ids=merge.copied_identifier_ids,
                    enterprise_before=merge.enterprise_before,
                    enterprise_after=merge.enterprise_after,
                    actor_label=_label(actor),
                    now=now,
                )
        except IntegrityError as exc:
            raise UnmergeRefusedError(
                "An identifier of the merged-away record is now active on another patient; "
                "retire it there first."
            ) from exc
        merge.status = MergeStatus.UNMERGED
        merge.unmerged_by = _label(actor)
        merge.unmerged_at = now
        merge.unmerge_reason = text
        merge.unmerge_kept = kept
        merge.save(
            update_fields=[
                "status",
                "unmerged_by",
                "unmerged_at",
                "unmerge_reason",
                "unmerge_kept",
            ]
        )
        survivor = Patient.objects.get(id=merge.survivor_id)
        subsumed = Patient.objects.get(id=merge.subsumed_id)
        _announce(actor, "patient.unmerged", merge, survivor, subsumed, kept_fields=kept)
    return merge
