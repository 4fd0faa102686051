"""Reads of portraits: the decrypted JPEG (for the API, the console, FHIR's Patient.photo) and
whether a patient has one. Callers log the read (patient_access_log, "patient.portrait_read")."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import Prefetch, QuerySet

from registration.models import Patient, Portrait
from registration.services.portrait_crypto import SealedPortrait, unseal
from tenancy.errors import NotFoundError


@dataclass(frozen=True, slots=True)
class PortraitImage:
    """A decrypted portrait."""

    patient_id: UUID
    content_type: str
    data: bytes
    width: int
    height: int
    updated_at: datetime


def portrait_get(*, patient_id: UUID) -> PortraitImage:
    """The patient's portrait, decrypted; NotFoundError when there is none (or no such patient).

    Raises PortraitIntegrityError when the stored row fails authentication.
    """
    row = Portrait.objects.filter(patient_id=patient_id).first()
    if row is None:
        raise NotFoundError("The patient has no portrait.")
    data = unseal(
        SealedPortrait(row.key_id, bytes(row.wrapped_key), bytes(row.nonce), bytes(row.ciphertext)),
        tenant_id=row.tenant_id,
        patient_id=row.patient_id,
    )
    return PortraitImage(
        patient_id=row.patient_id,
        content_type=row.content_type,
        data=data,
        width=row.width,
        height=row.height,
        updated_at=row.updated_at,
    )


def portrait_exists(*, patient_id: UUID) -> bool:
    """Whether the patient has a portrait (no decryption)."""
    return Portrait.objects.filter(patient_id=patient_id).exists()


def with_portrait_rows(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """Prefetch, per patient, whether it has a portrait (`portrait_rows`: id and content type,
    never the image) in one query per page; FHIR's Patient.photo reads it."""
    return patients.prefetch_related(
        Prefetch(
            "portraits",
            queryset=Portrait.objects.only("id", "patient_id", "content_type"),
            to_attr="portrait_rows",
        )
    )
