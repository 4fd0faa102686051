"""Reads behind the PIXm cross-reference: which patient holds an identifier, which
identifiers a set of patients holds, and which assigning authorities the tenant knows."""

from collections.abc import Iterable
from uuid import UUID

from registration.models import IdentifierDomain, PatientIdentifier


def identifier_holder(system: str, value: str) -> UUID | None:
    """The patient holding this active identifier (unique per tenant), if any."""
    return (
        PatientIdentifier.objects.filter(system=system, value=value, retired_at__isnull=True)
        .values_list("patient_id", flat=True)
        .first()
    )


def known_system(system: str) -> bool:
    """Whether the tenant knows this assigning authority (a domain, or identifiers in it)."""
    return (
        IdentifierDomain.objects.filter(system=system).exists()
        or PatientIdentifier.objects.filter(system=system).exists()
    )


def active_identifiers(patient_ids: Iterable[UUID]) -> list[PatientIdentifier]:
    """The active identifiers of these patients, in a stable order."""
    return list(
        PatientIdentifier.objects.filter(
            patient_id__in=list(patient_ids), retired_at__isnull=True
        ).order_by("system", "value", "id")
    )
