"""Writes of portraits: replace (upload) and remove, and the key rotation of stored ones.

An upload is normalised first (registration.services.portrait_images), outside the
transaction; then, atomically, the sealed JPEG is stored, the patient's version bumped (the
same If-Match rules as the rest of the record), an audit row written and `patient.updated`
(changed_fields: portrait) emitted. Nothing about the image goes into audit rows or events.
"""

from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.db import transaction

from outbox.services.outbox import outbox_enqueue
from registration.models import Patient, Portrait
from registration.services.patients import _label, _locked_patient, _require_active
from registration.services.portrait_crypto import (
    PortraitIntegrityError,
    PortraitKeyUnavailableError,
    SealedPortrait,
    active_key_id,
    rewrap,
    seal,
)
from registration.services.portrait_images import PortraitLimits, normalize_portrait
from registration.services.versions import patient_versions_retain
from tenancy.errors import NotFoundError
from tenancy.principal import Principal
from tenancy.services.audit import audit_record


def portrait_limits() -> PortraitLimits:
    """The configured upload and storage bounds."""
    return PortraitLimits(
        max_bytes=settings.PORTRAIT_MAX_UPLOAD_BYTES,
        max_pixels=settings.PORTRAIT_MAX_PIXELS,
        max_dimension=settings.PORTRAIT_MAX_DIMENSION,
        quality=settings.PORTRAIT_JPEG_QUALITY,
    )


def _changed(actor: Principal | None, patient: Patient, action: str, **details: object) -> None:
    patient.version += 1
    patient.updated_by = _label(actor)
    patient.save(update_fields=["version", "updated_by", "updated_at"])
    audit_record(
        actor=actor,
        action=action,
        object_type="patient",
        object_id=str(patient.id),
        details={"version": patient.version, **details},
    )
    outbox_enqueue(
        event_type="patient.updated",
        aggregate_type="patient",
        aggregate_id=patient.id,
        payload={
            "patient_id": str(patient.id),
            "version": patient.version,
            "changed_fields": ["portrait"],
        },
        actor=actor,
    )


def portrait_replace(
    *, actor: Principal | None, patient_id: UUID, expected_version: int | None, image: bytes
) -> Portrait:
    """Store (or replace) a patient's portrait, encrypted; refused uploads store nothing."""
    normalized = normalize_portrait(image, portrait_limits())
    active_key_id()  # fail before locking anything when no key is configured
    with transaction.atomic():
        patient = _locked_patient(patient_id, expected_version)
        _require_active(patient)
        sealed = seal(normalized.jpeg, tenant_id=patient.tenant_id, patient_id=patient.id)
        patient_versions_retain([patient.id])
        portrait, created = Portrait.objects.update_or_create(
            patient=patient,
            defaults={
                "tenant_id": patient.tenant_id,
                "key_id": sealed.key_id,
                "wrapped_key": sealed.wrapped_key,
                "nonce": sealed.nonce,
                "ciphertext": sealed.ciphertext,
                "width": normalized.width,
                "height": normalized.height,
                "byte_size": len(normalized.jpeg),
                "updated_by": _label(actor),
            },
        )
        _changed(
            actor,
            patient,
            "patient.portrait_replaced",
            created=created,
            key_id=sealed.key_id,
            byte_size=len(normalized.jpeg),
        )
    return portrait


def portrait_remove(
    *, actor: Principal | None, patient_id: UUID, expected_version: int | None
) -> None:
    """Delete a patient's portrait (ciphertext and wrapped key go with the row)."""
    with transaction.atomic():
        patient = _locked_patient(patient_id, expected_version)
        _require_active(patient)
        patient_versions_retain([patient.id])
        deleted, _ = Portrait.objects.filter(patient=patient).delete()
        if not deleted:
            raise NotFoundError("The patient has no portrait.")
        _changed(actor, patient, "patient.portrait_removed")


@dataclass(frozen=True, slots=True)
class RewrapBatch:
    """One committed batch of a key rotation: how many rows it took, re-wrapped or not."""

    taken: int
    rewrapped: int
    failed_ids: tuple[int, ...]
    last_id: int


def portraits_rewrap_batch(
    *, actor: Principal | None, to_key_id: str, limit: int = 100, after_id: int = 0
) -> RewrapBatch:
    """Re-wrap up to `limit` of the tenant's portraits not yet under `to_key_id`; one commit.

    Resumable: each batch takes only rows still under another key (skipping rows another
    rotator holds), in id order after `after_id`, so running again after an interruption
    continues where it stopped. A row whose data key fails authentication, or whose key is not
    configured, is left as it is and reported by id (never re-wrapped, never a stuck rotation).
    """
    rewrapped: list[int] = []
    failed: list[int] = []
    with transaction.atomic():
        rows = list(
            Portrait.objects.select_for_update(skip_locked=True)
            .exclude(key_id=to_key_id)
            .filter(id__gt=after_id)
            .order_by("id")[:limit]
        )
        for row in rows:
            try:
                sealed = rewrap(
                    SealedPortrait(
                        row.key_id, bytes(row.wrapped_key), bytes(row.nonce), bytes(row.ciphertext)
                    ),
                    to_key_id=to_key_id,
                    tenant_id=row.tenant_id,
                    patient_id=row.patient_id,
                )
            except (PortraitIntegrityError, PortraitKeyUnavailableError):
                failed.append(row.id)
                continue
            Portrait.objects.filter(id=row.id).update(
                key_id=sealed.key_id, wrapped_key=sealed.wrapped_key
            )
            rewrapped.append(row.id)
        if rows:
            details: dict[str, object] = {"to_key_id": to_key_id, "count": len(rewrapped)}
            if failed:
                details["failed_portrait_ids"] = failed
            audit_record(
                actor=actor,
                action="portrait.keys_rotated",
                object_type="portrait",
                details=details,
            )
    return RewrapBatch(
        taken=len(rows),
        rewrapped=len(rewrapped),
        failed_ids=tuple(failed),
        last_id=rows[-1].id if rows else after_id,
    )
