"""API keys: how integrators authenticate, each key bound to one tenant."""

import uuid

from django.conf import settings
from django.db import models

from tenancy.models.base import TenantOwnedModel
from tenancy.models.tenant import Role


class ApiKey(TenantOwnedModel):
    """A hashed credential for one integration in one tenant.

    Only the SHA-256 of the secret is stored: keys are 256-bit random values, so a fast hash is
    safe (unlike passwords), and the plaintext is shown once, at creation.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.INTEGRATOR)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
