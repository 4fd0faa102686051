"""Tenants, the people who act in them, and the modules they have licensed."""

import uuid

from django.conf import settings
from django.db import models

from tenancy.models.base import TenantOwnedModel


class Tenant(models.Model):
    """An organisation whose patients are isolated from every other organisation's."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    """What a member may do inside one tenant."""

    FRONT_DESK = "front_desk", "Front desk"
    DATA_STEWARD = "data_steward", "Data steward"
    INTEGRATOR = "integrator", "Integrator"
    TENANT_ADMIN = "tenant_admin", "Tenant administrator"
    AUDITOR = "auditor", "Auditor"


class Membership(TenantOwnedModel):
    """A user's role in a tenant; a user may hold several roles in several tenants."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tenant_memberships"
    )
    role = models.CharField(max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "role"], name="tenancy_membership_unique_role"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} as {self.role}"


class ModuleEntitlement(TenantOwnedModel):
    """A licensed module for a tenant, valid within a time window."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    module = models.CharField(max_length=64)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "module", "valid_from"], name="tenancy_entitlement_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(valid_until__isnull=True)
                | models.Q(valid_until__gt=models.F("valid_from")),
                name="tenancy_entitlement_window",
            ),
        ]

    def __str__(self) -> str:
        return self.module
