"""Reads of a patient's versions: the live record for the current one, the retained copies
(`registration.services.versions`) for older ones, rebuilt as unsaved Patient objects whose
children are already loaded, so that every renderer reads them as it reads the live record."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.db import models

from registration.models import Patient, PatientVersion, Portrait
from registration.services.versions import PORTRAIT_COLUMNS, VERSION_CHILDREN


def _value(field: "models.Field[Any, Any]", value: Any) -> Any:
    parsed = field.to_python(value)
    # Times as the ORM loads them (UTC), whatever offset the database wrote into the JSON.
    return parsed.astimezone(UTC) if isinstance(parsed, datetime) else parsed


def _instance(model: type[models.Model], row: Mapping[str, Any]) -> Any:
    """An unsaved model object from a kept row; columns added since default, dropped ones go."""
    fields = {f.attname: f for f in model._meta.concrete_fields}
    return model(
        **{name: _value(fields[name], value) for name, value in row.items() if name in fields}
    )


def _loaded(model: type[models.Model], objects: list[Any]) -> models.QuerySet[Any]:
    """A queryset that already holds `objects` (what prefetch_related leaves behind)."""
    queryset = model._default_manager.none()
    queryset._result_cache = objects
    queryset._prefetch_done = True  # type: ignore[attr-defined]  # Django's own flag, untyped
    return queryset


def _rebuilt(kept: PatientVersion) -> Patient:
    record = kept.record
    patient: Patient = _instance(Patient, record["patient"])
    patient._prefetched_objects_cache = {  # type: ignore[attr-defined]  # as prefetch sets it
        key: _loaded(model, [_instance(model, row) for row in record.get(key, [])])
        for key, model in VERSION_CHILDREN.items()
    }
    patient.portrait_rows = [  # type: ignore[attr-defined]  # read by the photo renderer
        _instance(Portrait, {k: v for k, v in row.items() if k in PORTRAIT_COLUMNS})
        for row in record.get("portraits", [])
    ]
    return patient


def patient_version_get(*, patient: Patient, version: int) -> Patient | None:
    """The patient as it was at `version`: `patient` itself when current, else the retained
    copy; None when no such version exists or it was not retained."""
    if version == patient.version:
        return patient
    kept = PatientVersion.objects.filter(patient_id=patient.id, version=version).first()
    return _rebuilt(kept) if kept is not None else None


def patient_version_list(*, patient: Patient) -> list[Patient]:
    """Every version still available, newest first: the current one, then the retained ones.

    Versions superseded before versions were kept are not available (not listed).
    """
    kept = PatientVersion.objects.filter(patient_id=patient.id, version__lt=patient.version)
    return [patient, *(_rebuilt(row) for row in kept.order_by("-version"))]
