"""Superseded versions of patient records, kept so that FHIR vread and history can return them."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from registration.models.patient import Patient
from tenancy.models import TenantOwnedModel


class PatientVersion(TenantOwnedModel):
    """One superseded version of a patient record, as it was just before the change that ended
    it: the patient row and its child rows (names, identifiers, telecoms, addresses, contacts,
    links) and whether a portrait existed, as JSON (`registration.services.versions`).

    The current version is never stored here (it is the live record). Written by the
    registration services under the patient's row lock, in the transaction of the change.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    version = models.PositiveIntegerField()
    record = models.JSONField(encoder=DjangoJSONEncoder)
    superseded_at = models.DateTimeField()

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "patient", "version"], name="patient_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"Version {self.version} of {self.patient_id}"
