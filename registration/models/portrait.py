"""A patient's portrait, stored only as ciphertext (AES-256-GCM envelope encryption).

Each portrait has its own data key, wrapped by a key-encryption key named by `key_id`; both
ciphertexts are bound to the tenant and the patient (associated data), so a row copied to
another patient, or pointed at another key, fails to decrypt instead of showing a wrong face.
"""

from django.db import models

from registration.models.patient import Patient
from tenancy.models import TenantOwnedModel


class Portrait(TenantOwnedModel):
    """The encrypted, normalised JPEG portrait of one patient (at most one per patient)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="portraits")
    key_id = models.CharField(max_length=64)
    wrapped_key = models.BinaryField()
    nonce = models.BinaryField()
    ciphertext = models.BinaryField()
    content_type = models.CharField(max_length=32, default="image/jpeg")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    byte_size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "patient"], name="portrait_one_per_patient")
        ]
        indexes = [models.Index(fields=["tenant", "key_id", "id"], name="portrait_key_idx")]

    def __str__(self) -> str:
        return f"Portrait of {self.patient_id}"
