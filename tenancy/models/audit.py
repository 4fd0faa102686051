"""The audit trail: who did what to which object, when, within one request."""

from django.conf import settings
from django.db import models

from tenancy.models.base import TenantOwnedModel


class AuditEvent(TenantOwnedModel):
    """One audited action or access. Append-only: the app role cannot update or delete it.

    `details` holds identifiers and field names, never PHI values.
    """

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        db_constraint=False,
        related_name="+",
    )
    actor_api_key = models.ForeignKey(
        "tenancy.ApiKey",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        db_constraint=False,
        related_name="+",
    )
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["tenant", "object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["tenant", "-id"], name="audit_tenant_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id}"


class AuditSeal(TenantOwnedModel):
    """One link of a tenant's hash chain over its audit rows, so that a database
    administrator's edit or deletion of an audit row is detectable (`manage.py audit_verify`).

    `row_hash = sha256(prev_hash + canonical content of the audit row)`; seals are written by
    `audit_seal` in audit-id order and are append-only like the rows they seal.
    """

    id = models.BigAutoField(primary_key=True)
    seq = models.BigIntegerField()
    audit_event_id = models.BigIntegerField()
    prev_hash = models.CharField(max_length=64)
    row_hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "seq"], name="audit_seal_seq_unique"),
            models.UniqueConstraint(
                fields=["tenant", "audit_event_id"], name="audit_seal_event_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"seal {self.seq} of audit {self.audit_event_id}"
