"""The steward review queue: claiming pairs, deciding them (each decision a training label),
reopening a decision explicitly, and deciding obvious pairs in bulk.

Pairs are proposed elsewhere (online matching, the batch job); here they are only worked.
Every change is audited in its own transaction.
"""

from collections.abc import Sequence
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from mpi.models import CandidateStatus, MatchCandidate, MatchDecision, MatchDecisionKind
from registration.models import Patient
from tenancy.db import current_tenant_id
from tenancy.errors import ConflictError, FieldError, NotFoundError, ValidationFailedError
from tenancy.principal import Principal
from tenancy.services.audit import audit_record

MAX_REASON_LENGTH = 500
MAX_BULK = 200
DECIDED = (CandidateStatus.DUPLICATE, CandidateStatus.NOT_DUPLICATE)
# Closed by a merge: reopenable once both records are active again (the merge undone).
CLOSED_BY_MERGE = (CandidateStatus.MERGED, CandidateStatus.SUPERSEDED)


class CandidateClosedError(ConflictError):
    """The pair is no longer open (decided, merged or superseded)."""

    code = "candidate-closed"
    title = "Candidate is not open"


def _label(actor: Principal | None) -> str:
    return actor.label if actor else "system"


def _reason(reason: str, *, required: bool) -> str:
    text = (reason or "").strip()
    if (required and not text) or len(text) > MAX_REASON_LENGTH:
        raise ValidationFailedError(
            "A reason is required.",
            errors=[
                FieldError(
                    "reason", "required", f"Give a reason of 1 to {MAX_REASON_LENGTH} characters."
                )
            ],
        )
    return text


def _locked(candidate_id: UUID) -> MatchCandidate:
    candidate = MatchCandidate.objects.select_for_update().filter(id=candidate_id).first()
    if candidate is None:
        raise NotFoundError("No such candidate.")
    return candidate


def _audit(actor: Principal | None, action: str, candidate: MatchCandidate, **details: str) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type="match_candidate",
        object_id=str(candidate.id),
        details={
            "patient_low_id": str(candidate.patient_low_id),
            "patient_high_id": str(candidate.patient_high_id),
            "status": str(candidate.status),
            **details,
        },
    )


def candidate_claim(
    *, actor: Principal | None, candidate_id: UUID, assignee: str | None = None
) -> MatchCandidate:
    """Assign an open pair to a steward (the caller unless `assignee` names someone else).

    An empty `assignee` releases the pair back to the queue.
    """
    who = _label(actor) if assignee is None else assignee.strip()
    if len(who) > 64:
        raise ValidationFailedError(
            "Assignee too long.", errors=[FieldError("assignee", "max_length", "At most 64.")]
        )
    with transaction.atomic():
        candidate = _locked(candidate_id)
        if candidate.status != CandidateStatus.OPEN:
            raise CandidateClosedError("Only open pairs can be claimed.")
        candidate.assignee = who
        candidate.assigned_at = timezone.now() if who else None
        candidate.save(update_fields=["assignee", "assigned_at", "updated_at"])
        _audit(actor, "mpi.candidate_assigned", candidate, assignee=who)
    return candidate


def _decide(
    actor: Principal | None, candidate: MatchCandidate, decision: MatchDecisionKind, reason: str
) -> None:
    if candidate.status != CandidateStatus.OPEN:
        raise CandidateClosedError(
            "This pair is already decided, merged or superseded; reopen it first."
        )
    now = timezone.now()
    candidate.status = (
        CandidateStatus.DUPLICATE
        if decision == MatchDecisionKind.DUPLICATE
        else CandidateStatus.NOT_DUPLICATE
    )
    candidate.decided_by = _label(actor)
    candidate.decided_at = now
    candidate.reason = reason
    candidate.save(update_fields=["status", "decided_by", "decided_at", "reason", "updated_at"])
    MatchDecision.objects.update_or_create(
        patient_low_id=candidate.patient_low_id,
        patient_high_id=candidate.patient_high_id,
        defaults={
            "tenant_id": current_tenant_id(),
            "decision": decision,
            "reason": reason,
            "decided_by": _label(actor),
        },
    )
    _audit(actor, "mpi.candidate_decided", candidate, decision=str(decision))


def candidate_decide(
    *, actor: Principal | None, candidate_id: UUID, decision: MatchDecisionKind, reason: str = ""
) -> MatchCandidate:
    """Decide an open pair; the decision is final until reopened and is a training label.

    "Not a duplicate" needs a reason. Deciding "duplicate" does not merge: the steward merges
    (or links) separately, and the merge marks the pair merged.
    """
    text = _reason(reason, required=decision == MatchDecisionKind.NOT_DUPLICATE)
    with transaction.atomic():
        candidate = _locked(candidate_id)
        _decide(actor, candidate, decision, text)
    return candidate


def candidates_decide_bulk(
    *,
    actor: Principal | None,
    candidate_ids: Sequence[UUID],
    decision: MatchDecisionKind,
    reason: str = "",
) -> list[MatchCandidate]:
    """Decide many obvious pairs at once: all of them or none (one closed pair refuses all)."""
    ids = list(dict.fromkeys(candidate_ids))
    if not ids or len(ids) > MAX_BULK:
        raise ValidationFailedError(
            "Give between 1 and 200 candidates.",
            errors=[FieldError("candidate_ids", "size", f"1 to {MAX_BULK} ids.")],
        )
    text = _reason(reason, required=decision == MatchDecisionKind.NOT_DUPLICATE)
    with transaction.atomic():
        candidates = list(
            MatchCandidate.objects.select_for_update().filter(id__in=ids).order_by("id")
        )
        if len(candidates) != len(ids):
            raise NotFoundError("No such candidate.")
        for candidate in candidates:
            _decide(actor, candidate, decision, text)
    return candidates


def candidate_reopen(*, actor: Principal | None, candidate_id: UUID, reason: str) -> MatchCandidate:
    """Reopen a closed pair explicitly: back in the queue, its training label withdrawn.

    A decided pair reopens any time. A merged or superseded pair reopens only once both
    records are active again, that is after the merge that closed it was undone (an unmerge
    reopens nothing by itself); while the merge stands the answer is 409.
    """
    text = _reason(reason, required=True)
    with transaction.atomic():
        candidate = _locked(candidate_id)
        if candidate.status in CLOSED_BY_MERGE:
            pair = (candidate.patient_low_id, candidate.patient_high_id)
            if Patient.objects.filter(id__in=pair, active=True).count() != len(pair):
                raise CandidateClosedError(
                    "A merge closed this pair and still stands; undo the merge first."
                )
        elif candidate.status not in DECIDED:
            raise CandidateClosedError("Only decided, merged or superseded pairs can be reopened.")
        previous = str(candidate.status)
        MatchDecision.objects.filter(
            patient_low_id=candidate.patient_low_id, patient_high_id=candidate.patient_high_id
        ).delete()
        candidate.status = CandidateStatus.OPEN
        candidate.decided_by = ""
        candidate.decided_at = None
        candidate.reason = text
        candidate.save(update_fields=["status", "decided_by", "decided_at", "reason", "updated_at"])
        _audit(actor, "mpi.candidate_reopened", candidate, previous=previous, reason=text)
    return candidate
