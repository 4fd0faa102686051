"""Reads of patient records. Row-level security keeps them inside the caller's tenant, so a
patient of another tenant is simply not found."""

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from registration.models import (
    Patient,
    PatientAddress,
    PatientIdentifier,
    PatientName,
    PatientTelecom,
)
from registration.services.search_keys import fold, phone_key, postal_key
from tenancy.errors import NotFoundError

CHILDREN = ("names", "telecoms", "addresses", "contacts", "links")


def with_children(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """Prefetch every child table: one query each, whatever the page size."""
    return patients.prefetch_related(
        *CHILDREN,
        Prefetch("identifiers", queryset=PatientIdentifier.objects.order_by("retired_at", "id")),
    )


def patient_get(*, patient_id: UUID) -> Patient:
    """One patient with its children, or NotFoundError (also for other tenants' patients)."""
    patient = with_children(Patient.objects.filter(id=patient_id)).first()
    if patient is None:
        raise NotFoundError("No such patient.")
    return patient


@dataclass(frozen=True, slots=True)
class PatientSearch:
    """Search criteria; all given criteria must hold (AND)."""

    name: str = ""
    family: str = ""
    given: str = ""
    birth_date: date | None = None
    identifier: str = ""
    phone: str = ""
    postal_code: str = ""
    active: bool | None = None


def _name_prefix(field: str, text: str) -> Q:
    """Every folded word of `text` must start some name word (prefix search on the index)."""
    condition = Q()
    for word in fold(text).split():
        condition &= Q(**{f"{field}__startswith": word})
    return condition


def _any_given_starts_with(word: str) -> Q:
    """One of the name's given names (not only the first) starts with the folded `word`:
    `given_names_folded` holds them all, space-separated (trigram-indexed)."""
    return Q(given_names_folded__startswith=word) | Q(given_names_folded__contains=f" {word}")


def patient_search(criteria: PatientSearch) -> QuerySet[Patient]:
    """Patients matching every criterion, ordered by name then id (stable for cursors)."""
    patients = Patient.objects.all()
    names = PatientName.objects.filter(patient=OuterRef("pk"))
    if criteria.family:
        patients = patients.filter(
            Exists(names.filter(_name_prefix("family_folded", criteria.family)))
        )
    if criteria.given:
        condition = Q()
        for word in fold(criteria.given).split():
            condition &= _any_given_starts_with(word)
        patients = patients.filter(Exists(names.filter(condition)))
    if criteria.name:
        for word in fold(criteria.name).split():
            patients = patients.filter(
                Exists(
                    names.filter(Q(family_folded__startswith=word) | _any_given_starts_with(word))
                )
            )
    if criteria.birth_date is not None:
        patients = patients.filter(birth_date=criteria.birth_date)
    if criteria.identifier:
        system, separator, value = criteria.identifier.rpartition("|")
        identifiers = PatientIdentifier.objects.filter(
            patient=OuterRef("pk"), value=value if separator else criteria.identifier
        )
        if separator and system:
            identifiers = identifiers.filter(system=system)
        patients = patients.filter(Exists(identifiers))
    if criteria.phone:
        patients = patients.filter(
            Exists(
                PatientTelecom.objects.filter(
                    patient=OuterRef("pk"), value_normalized=phone_key(criteria.phone) or "-"
                )
            )
        )
    if criteria.postal_code:
        patients = patients.filter(
            Exists(
                PatientAddress.objects.filter(
                    patient=OuterRef("pk"),
                    postal_code_normalized=postal_key(criteria.postal_code) or "-",
                )
            )
        )
    if criteria.active is not None:
        patients = patients.filter(active=criteria.active)
    return with_children(patients.order_by("sort_name", "id"))
