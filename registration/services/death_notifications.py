"""Civil-registry death notifications that could not be tied to exactly one patient.

The inbox handler (registered by the MPI app, which can match people) queues them here; a data
steward then records the death for the right patient or dismisses the notification. Never is
a death recorded on a guess.
"""

from collections.abc import Sequence
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from registration.models import (
    DeathNotificationReview,
    ReviewReason,
    ReviewStatus,
    VitalStatusRecord,
    VitalStatusSource,
)
from registration.services.patients import _label, _require_reason
from registration.services.vital_status import DeathDate, vital_status_record_death
from tenancy.db import current_tenant_id
from tenancy.errors import ConflictError, NotFoundError
from tenancy.principal import Principal
from tenancy.services.audit import audit_record


def death_notification_queue(
    *,
    inbox_message_id: int,
    notification_id: str,
    identifier_system: str,
    identifier_value: str,
    death: DeathDate,
    certificate_number: str,
    reason: ReviewReason,
    candidate_ids: Sequence[UUID],
) -> DeathNotificationReview:
    """Put a notification on the stewards' worklist, with the candidates the matcher saw.

    The date keeps the precision the registry sent, so a steward's later recording of it is
    exactly the registry's claim (month or year, not a made-up first day).
    """
    known = death.normalized()
    if known.value is None:
        raise ValueError("A civil-registry death notification always has a date of death.")
    with transaction.atomic():
        review = DeathNotificationReview.objects.create(
            tenant_id=current_tenant_id(),
            inbox_message_id=inbox_message_id,
            notification_id=notification_id,
            identifier_system=identifier_system,
            identifier_value=identifier_value,
            date_of_death=known.value,
            date_of_death_precision=known.precision,
            certificate_number=certificate_number,
            reason=reason,
            candidate_ids=list(candidate_ids),
        )
        audit_record(
            actor=None,
            action="death_notification.queued",
            object_type="death_notification_review",
            object_id=str(review.id),
            details={
                "notification_id": notification_id,
                "reason": str(reason),
                "candidate_ids": [str(c) for c in candidate_ids],
            },
        )
    return review


def _open_review(review_id: int) -> DeathNotificationReview:
    review = DeathNotificationReview.objects.select_for_update().filter(id=review_id).first()
    if review is None:
        raise NotFoundError("No such death notification review.")
    if review.status != ReviewStatus.OPEN:
        raise ConflictError("This notification has already been resolved.")
    return review


def death_notification_record(
    *, actor: Principal | None, review_id: int, patient_id: UUID, channel: str = "console"
) -> VitalStatusRecord:
    """The steward picked the patient: record the reported death from the civil registry."""
    with transaction.atomic():
        review = _open_review(review_id)
        entry = vital_status_record_death(
            actor=actor,
            patient_id=patient_id,
            expected_version=None,
            death=DeathDate(review.date_of_death, review.date_of_death_precision),
            source=VitalStatusSource.CIVIL_REGISTRY,
            channel=channel,
            external_reference=review.notification_id,
        )
        review.status = ReviewStatus.RECORDED
        review.resolved_at = timezone.now()
        review.resolved_by = _label(actor)
        review.resolved_patient_id = patient_id
        review.save(update_fields=["status", "resolved_at", "resolved_by", "resolved_patient"])
        audit_record(
            actor=actor,
            action="death_notification.recorded",
            object_type="death_notification_review",
            object_id=str(review.id),
            details={"patient_id": str(patient_id), "vital_status_id": str(entry.id)},
        )
    return entry


def death_notification_dismiss(
    *, actor: Principal | None, review_id: int, reason: str
) -> DeathNotificationReview:
    """The steward found no patient this notification is about: close it, saying why."""
    text = _require_reason(reason, "reason")
    with transaction.atomic():
        review = _open_review(review_id)
        review.status = ReviewStatus.DISMISSED
        review.resolved_at = timezone.now()
        review.resolved_by = _label(actor)
        review.resolution_note = text
        review.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note"])
        audit_record(
            actor=actor,
            action="death_notification.dismissed",
            object_type="death_notification_review",
            object_id=str(review.id),
        )
    return review
