"""Reads that help someone filling in a registration form: the existing patients a half-entered
record probably duplicates, with just enough to recognise them."""

from typing import Any
from uuid import UUID

from registration.models import Patient
from registration.selectors.access import candidate_summary_for
from registration.services.duplicates import find_likely_duplicates
from registration.services.inputs import PatientInput


def duplicate_candidate_summaries(data: PatientInput) -> list[dict[str, Any]]:
    """Likely duplicates of `data`, most likely first, shaped like DuplicateSuspectedError's
    candidates so that the live check and a refused save show the same thing."""
    candidates = find_likely_duplicates(data)
    if not candidates:
        return []
    patients = _patients_with_names([c.patient_id for c in candidates])
    summaries = []
    for candidate in candidates:
        patient = patients.get(candidate.patient_id)
        if patient is None:  # deactivated or gone between the two queries
            continue
        name = next(iter(patient.names.all()), None)
        summaries.append(
            candidate_summary_for(
                patient,
                {
                    "patient_id": str(candidate.patient_id),
                    "matched_on": list(candidate.matched_on),
                    "probability": candidate.probability,
                    "grade": candidate.grade,
                    "family": name.family if name else "",
                    "given": list(name.given) if name else [],
                    "birth_date": patient.birth_date.isoformat() if patient.birth_date else None,
                    "gender": patient.gender,
                },
            )
        )
    return summaries


def _patients_with_names(patient_ids: list[UUID]) -> dict[UUID, Patient]:
    return {
        patient.id: patient
        for patient in Patient.objects.filter(id__in=patient_ids).prefetch_related("names")
    }
