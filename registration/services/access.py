"""Granting access to restricted patients: care-team grants and break-glass, and the
after-the-fact review of every break-glass access.

Each write is atomic with its audit row and announces itself through the outbox, ids only
(`security.access-granted`, `security.access-revoked`, `security.break-glass-used`). The
free-text reasons stay in the grant row (under row-level security), never in audit details,
events or logs.
"""

from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from outbox.services.outbox import outbox_enqueue
from registration.models import (
    BreakGlassReason,
    Confidentiality,
    GrantKind,
    Patient,
    PatientAccessGrant,
    ReviewDecision,
)
from registration.selectors.access import active_care_team_grant_exists
from tenancy.db import current_tenant_id
from tenancy.errors import (
    ConflictError,
    FieldError,
    NotFoundError,
    PermissionDeniedError,
    ValidationFailedError,
)
from tenancy.metrics import breakglass_grant_counted
from tenancy.models import Role
from tenancy.modules import BREAK_GLASS
from tenancy.principal import Principal
from tenancy.selectors.entitlements import require_module
from tenancy.selectors.members import tenant_member_exists
from tenancy.services.audit import audit_record

# Who may give and revoke care-team grants (docs/SECURITY.md): the tenant's administrators and
# privacy officers (auditors), not the clinical roles that would use them.
GRANT_MANAGER_ROLES = (Role.TENANT_ADMIN, Role.AUDITOR)
REASON_MIN = 10
REASON_MAX = 1000
NOTE_MAX = 2000


def _patient_for_grant(patient_id: UUID) -> Patient:
    patient = Patient.objects.select_for_update().filter(id=patient_id).first()
    if patient is None:
        raise NotFoundError("No such patient.")
    return patient


def _actor_label(actor: Principal | None) -> str:
    return actor.label if actor is not None else "system"


def _reason_errors(reason: str) -> list[FieldError]:
    """A grant's stated reason (break-glass or care team): REASON_MIN to REASON_MAX
    characters once trimmed."""
    text = reason.strip()
    if len(text) < REASON_MIN:
        return [FieldError("reason", "too_short", f"Say why, in at least {REASON_MIN} characters.")]
    if len(text) > REASON_MAX:
        return [FieldError("reason", "too_long", f"At most {REASON_MAX} characters.")]
    return []


def _validate_care_team_grant(
    actor: Principal | None, user_id: int, reason: str, expires_at: datetime | None
) -> None:
    errors = []
    if not tenant_member_exists(user_id=user_id):
        errors.append(FieldError("user_id", "not_a_member", "Choose a member of this tenant."))
    errors.extend(_reason_errors(reason))
    if expires_at is not None and expires_at <= timezone.now():
        errors.append(FieldError("expires_at", "in_the_past", "Choose a time in the future."))
    if errors:
        raise ValidationFailedError("The care-team grant is incomplete.", errors=errors)
    if actor is not None and actor.user_id == user_id:
        raise PermissionDeniedError(
            "You cannot grant yourself access to a patient; ask another administrator or "
            "use break-glass."
        )


def care_team_grant(
    *,
    actor: Principal | None,
    patient_id: UUID,
    user_id: int,
    reason: str,
    expires_at: datetime | None = None,
) -> PatientAccessGrant:
    """Put a member of the tenant on the care team of a patient: they may open it while it is
    restricted, until `expires_at` (if given) or revocation.

    The grantee must be a member of the current tenant (another tenant's user is refused like an
    unknown one), never the actor themself, and not already on the care team. Audited
    (`access_grant.created`) and announced (`security.access-granted`, ids only) in the same
    transaction; the reason stays in the grant row.
    """
    with transaction.atomic():
        patient = _patient_for_grant(patient_id)  # another tenant's patient: 404 first
        _validate_care_team_grant(actor, user_id, reason, expires_at)
        if active_care_team_grant_exists(patient_id=patient.id, user_id=user_id):
            raise ConflictError("This user is already on the patient's care team.")
        grant = PatientAccessGrant.objects.create(
            tenant_id=current_tenant_id(),
            patient=patient,
            kind=GrantKind.CARE_TEAM,
            grantee_user_id=user_id,
            reason_text=reason.strip(),
            granted_by=actor.label if actor is not None else "",
            expires_at=expires_at,
        )
        audit_record(
            actor=actor,
            action="access_grant.created",
            object_type="patient",
            object_id=str(patient.id),
            details={
                "grant_id": str(grant.id),
                "kind": GrantKind.CARE_TEAM,
                "user_id": user_id,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
        outbox_enqueue(
            event_type="security.access-granted",
            aggregate_type="patient",
            aggregate_id=patient.id,
            payload={
                "grant_id": str(grant.id),
                "patient_id": str(patient.id),
                "kind": GrantKind.CARE_TEAM.value,
                "grantee": f"user:{user_id}",
                "actor": _actor_label(actor),
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
            actor=actor,
        )
    return grant


def access_grant_revoke(
    *, actor: Principal | None, grant_id: UUID, patient_id: UUID | None = None
) -> PatientAccessGrant:
    """End a grant now (care team left, break-glass no longer needed); it stops working at the
    next access. Revoking a revoked grant changes nothing. With `patient_id`, a grant of another
    patient is NotFoundError. Audited (`access_grant.revoked`) and announced
    (`security.access-revoked`) in the same transaction."""
    with transaction.atomic():
        grants = PatientAccessGrant.objects.select_for_update().filter(id=grant_id)
        if patient_id is not None:
            grants = grants.filter(patient_id=patient_id)
        grant = grants.first()
        if grant is None:
            raise NotFoundError("No such grant.")
        if grant.revoked_at is None:
            grant.revoked_at = timezone.now()
            grant.revoked_by = actor.label if actor is not None else ""
            grant.save(update_fields=["revoked_at", "revoked_by"])
            audit_record(
                actor=actor,
                action="access_grant.revoked",
                object_type="patient",
                object_id=str(grant.patient_id),
                details={"grant_id": str(grant.id), "kind": grant.kind},
            )
            outbox_enqueue(
                event_type="security.access-revoked",
                aggregate_type="patient",
                aggregate_id=grant.patient_id,
                payload={
                    "grant_id": str(grant.id),
                    "patient_id": str(grant.patient_id),
                    "kind": grant.kind,
                    "actor": _actor_label(actor),
                },
                actor=actor,
            )
    return grant


def _validate_reason(reason_category: str, reason_text: str) -> None:
    errors = []
    if reason_category not in BreakGlassReason.values:
        errors.append(FieldError("reason_category", "invalid_choice", "Unknown reason category."))
    errors.extend(_reason_errors(reason_text))
    if errors:
        raise ValidationFailedError("A break-glass reason is required.", errors=errors)


def break_glass_open(
    *, actor: Principal, patient_id: UUID, reason_category: str, reason_text: str
) -> PatientAccessGrant:
    """Open a restricted patient for the caller alone, for BREAK_GLASS_MINUTES, with a reason.

    Needs the `break_glass` module. Audited (`break_glass.opened`, with the grant id and the
    reason category), announced (`security.break-glass-used`) and queued for review.
    """
    require_module(BREAK_GLASS)
    if actor.user_id is None and actor.api_key_id is None:
        raise PermissionDeniedError("Break-glass needs an identified caller.")
    _validate_reason(reason_category, reason_text)
    with transaction.atomic():
        patient = _patient_for_grant(patient_id)
        if patient.confidentiality != Confidentiality.RESTRICTED:
            raise ConflictError("This patient is not restricted; open it normally.")
        expires_at = timezone.now() + timedelta(minutes=settings.BREAK_GLASS_MINUTES)
        grant = PatientAccessGrant.objects.create(
            tenant_id=current_tenant_id(),
            patient=patient,
            kind=GrantKind.BREAK_GLASS,
            grantee_user_id=actor.user_id,
            grantee_api_key_id=actor.api_key_id if actor.user_id is None else None,
            reason_category=reason_category,
            reason_text=reason_text.strip(),
            expires_at=expires_at,
        )
        audit_record(
            actor=actor,
            action="break_glass.opened",
            object_type="patient",
            object_id=str(patient.id),
            details={
                "grant_id": str(grant.id),
                "break_glass": True,
                "reason_category": reason_category,
                "expires_at": expires_at.isoformat(),
            },
        )
        outbox_enqueue(
            event_type="security.break-glass-used",
            aggregate_type="patient",
            aggregate_id=patient.id,
            payload={
                "grant_id": str(grant.id),
                "patient_id": str(patient.id),
                "actor": actor.label,
                "expires_at": expires_at.isoformat(),
            },
            actor=actor,
        )
        tenant_id = current_tenant_id()
        # Counted once the grant is real (the alert RegsvcBreakGlassUsed reads this counter).
        transaction.on_commit(lambda: breakglass_grant_counted(tenant_id))
    return grant


def break_glass_review(
    *, actor: Principal, grant_id: UUID, decision: str, note: str
) -> PatientAccessGrant:
    """A privacy officer's verdict on one break-glass access (once; never changed after)."""
    errors = []
    if decision not in ReviewDecision.values:
        errors.append(FieldError("decision", "invalid_choice", "justified or unjustified."))
    if not note.strip():
        errors.append(FieldError("note", "required", "Add a note for the record."))
    elif len(note) > NOTE_MAX:
        errors.append(FieldError("note", "too_long", f"At most {NOTE_MAX} characters."))
    if errors:
        raise ValidationFailedError("The review is incomplete.", errors=errors)
    with transaction.atomic():
        grant = (
            PatientAccessGrant.objects.select_for_update()
            .filter(id=grant_id, kind=GrantKind.BREAK_GLASS)
            .first()
        )
        if grant is None:
            raise NotFoundError("No such break-glass grant.")
        if grant.review_decision:
            raise ConflictError("This break-glass access has already been reviewed.")
        grant.review_decision = decision
        grant.review_note = note.strip()
        grant.reviewed_at = timezone.now()
        grant.reviewed_by_id = actor.user_id
        grant.save(update_fields=["review_decision", "review_note", "reviewed_at", "reviewed_by"])
        audit_record(
            actor=actor,
            action="break_glass.reviewed",
            object_type="patient",
            object_id=str(grant.patient_id),
            details={"grant_id": str(grant.id), "break_glass": True, "decision": decision},
        )
    return grant
