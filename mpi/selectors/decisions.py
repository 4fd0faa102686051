"""Steward decisions that online matching must respect."""

from uuid import UUID

from django.db.models import Q

from mpi.models import MatchDecision


def decided_partners(patient_id: UUID) -> frozenset[UUID]:
    """Patients already paired with `patient_id` by a steward decision, either way.

    A decided pair is never proposed again, whatever the decision was: "not duplicate" is
    final, and "duplicate" is the merge's business, not a new proposal.
    """
    pairs = MatchDecision.objects.filter(
        Q(patient_low_id=patient_id) | Q(patient_high_id=patient_id)
    ).values_list("patient_low_id", "patient_high_id")
    return frozenset(other for pair in pairs for other in pair if other != patient_id)
