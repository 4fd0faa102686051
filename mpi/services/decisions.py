"""Recording a steward's decision on a pair of patients (minimal: the review queue extends it)."""

from uuid import UUID

from django.db import IntegrityError, transaction

from mpi.models import MatchDecision, MatchDecisionKind
from registration.models import Patient
from tenancy.db import current_tenant_id
from tenancy.errors import ConflictError, NotFoundError, ValidationFailedError
from tenancy.principal import Principal
from tenancy.services.audit import audit_record


def match_decision_record(
    *,
    actor: Principal | None,
    patient_id: UUID,
    other_patient_id: UUID,
    decision: MatchDecisionKind,
    reason: str = "",
) -> MatchDecision:
    """Keep a steward's verdict on two patients; the pair is then never proposed again.

    A pair is decided once: a second decision is refused (409) rather than overwriting the
    first, because decisions are kept forever and feed training.
    """
    if patient_id == other_patient_id:
        raise ValidationFailedError("A patient cannot be paired with itself.")
    low, high = sorted((patient_id, other_patient_id))
    with transaction.atomic():
        if Patient.objects.filter(id__in=(low, high)).count() != 2:
            raise NotFoundError("No such patient.")
        row = MatchDecision(
            tenant_id=current_tenant_id(),
            patient_low_id=low,
            patient_high_id=high,
            decision=decision,
            reason=reason,
            decided_by=actor.label if actor else "system",
        )
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError as exc:
            raise ConflictError("This pair has already been decided.") from exc
        audit_record(
            actor=actor,
            action="mpi.match_decided",
            object_type="patient",
            object_id=str(low),
            details={"other_patient_id": str(high), "decision": str(decision)},
        )
    return row
