"""Who may open a restricted patient: explicit grants (the care team) and break-glass.

Our own tenant-owned table rather than django-guardian's object permissions: guardian's rows
carry no `tenant_id`, so row-level security cannot fence them, their object key is a bare
string any tenant's id could collide with, and a Citus distribution by tenant could not place
them. Here every grant lives under the same RLS policy as the patient it opens
(docs/SECURITY.md).
"""

import uuid

from django.conf import settings
from django.db import models

from registration.models.patient import Patient
from tenancy.models import TenantOwnedModel


class GrantKind(models.TextChoices):
    """Why the grant exists."""

    CARE_TEAM = "care_team", "Care team"
    BREAK_GLASS = "break_glass", "Break-glass"


class BreakGlassReason(models.TextChoices):
    """The stated category of a break-glass access (the free text says more)."""

    EMERGENCY = "emergency", "Medical emergency"
    CONTINUITY_OF_CARE = "continuity_of_care", "Continuity of care"
    PATIENT_REQUEST = "patient_request", "Patient's request"
    LEGAL = "legal", "Legal or regulatory duty"
    OTHER = "other", "Other"


class ReviewDecision(models.TextChoices):
    """A privacy officer's verdict on a break-glass access."""

    JUSTIFIED = "justified", "Justified"
    UNJUSTIFIED = "unjustified", "Not justified"


class PatientAccessGrant(TenantOwnedModel):
    """Lets one user (or API key) open one restricted patient, until it expires or is revoked.

    Care-team grants are given by a tenant administrator or privacy officer, with a reason.
    Break-glass grants are self-issued with a reason, always time-boxed, and reviewed after the
    fact by an auditor.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="access_grants")
    kind = models.CharField(max_length=16, choices=GrantKind.choices)
    grantee_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    grantee_api_key = models.ForeignKey(
        "tenancy.ApiKey", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason_category = models.CharField(max_length=32, choices=BreakGlassReason.choices, blank=True)
    reason_text = models.CharField(max_length=1000, blank=True)
    granted_at = models.DateTimeField(auto_now_add=True)
    # PHI-free labels of who granted and who revoked (`user:42`, `api-key:<uuid>`; '' = system).
    granted_by = models.CharField(max_length=64, blank=True, default="", db_default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=64, blank=True, default="", db_default="")
    review_decision = models.CharField(max_length=16, choices=ReviewDecision.choices, blank=True)
    review_note = models.CharField(max_length=2000, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-granted_at"]
        verbose_name = "break-glass grant"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(grantee_user__isnull=False)
                | models.Q(grantee_api_key__isnull=False),
                name="access_grant_has_grantee",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="break_glass")
                | (models.Q(expires_at__isnull=False) & ~models.Q(reason_category="")),
                name="access_grant_break_glass_timeboxed",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "patient", "expires_at"], name="access_grant_patient_idx"
            ),
            models.Index(
                fields=["tenant", "kind", "review_decision"], name="access_grant_review_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} grant {self.id}"
