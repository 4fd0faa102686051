"""Reads behind the PIXm cross-reference: which patient holds an identifier, which
identifiers a set of patients holds, which records are the same person (enterprise id,
merges, links), and which assigning authorities the tenant knows."""

from collections.abc import Iterable
from uuid import UUID

from django.db.models import Q

from mpi.models import MergeStatus, PatientMerge
from registration.models import IdentifierDomain, Patient, PatientIdentifier, PatientLink

# Merge chains and link graphs are short; the walk stops here whatever the data says.
MAX_LINK_HOPS = 20


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


def linked_patient_ids(patient_id: UUID) -> set[UUID]:
    """Every other record of the same person: the records sharing the enterprise id (linked or
    merged), the records merged into or with them (merges not undone), and the records their
    `Patient.link` rows point to; walked to a fixed point (at most MAX_LINK_HOPS rounds)."""
    found = {patient_id}
    frontier = {patient_id}
    for _ in range(MAX_LINK_HOPS):
        euids = Patient.objects.filter(id__in=frontier).values_list("enterprise_id", flat=True)
        reached: set[UUID] = set(
            Patient.objects.filter(enterprise_id__in=euids).values_list("id", flat=True)
        )
        for survivor, subsumed in PatientMerge.objects.filter(
            Q(survivor_id__in=frontier) | Q(subsumed_id__in=frontier), status=MergeStatus.MERGED
        ).values_list("survivor_id", "subsumed_id"):
            reached.update((survivor, subsumed))
        reached.update(
            PatientLink.objects.filter(patient_id__in=frontier).values_list("other_id", flat=True)
        )
        frontier = reached - found
        if not frontier:
            break
        found |= frontier
    found.discard(patient_id)
    return found
