"""A tenant's own placeholder values: what its feeds use to mean "unknown"."""

import uuid

from django.db import models

from tenancy.models import TenantOwnedModel


class PlaceholderField(models.TextChoices):
    """The fields a placeholder can be declared for (mpi.matching.normalize.PlaceholderField)."""

    NAME = "name", "Name"
    IDENTIFIER = "identifier", "Identifier value"
    PHONE = "phone", "Phone number"
    EMAIL = "email", "E-mail address"
    POSTAL_CODE = "postal_code", "Postal code"
    ADDRESS = "address", "Address line"
    BIRTH_DATE = "birth_date", "Birth date"


class PlaceholderValue(TenantOwnedModel):
    """A value that never counts as evidence nor blocks in this tenant (e.g. the clinic phone).

    Extends the engine's built-in list (UNKNOWN, BABY GIRL, 000-00-0000, ...), never replaces it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    field = models.CharField(max_length=16, choices=PlaceholderField.choices)
    value = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "field", "value"], name="mpi_placeholder_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_field_display()} placeholder {self.pk}"
