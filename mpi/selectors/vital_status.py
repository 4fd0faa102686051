"""The vital-status rule of matching: a deceased patient is never auto-linked.

`match_patient` caps a deceased candidate's CERTAIN grade at PROBABLE, which sends the pair to
a steward instead of linking it automatically; this answers which candidates are deceased,
from registration's vital status (one query over the candidate ids, none when there are none).
"""

from collections.abc import Collection
from uuid import UUID

from registration.selectors.vital_status import deceased_among


def deceased_patient_ids(patient_ids: Collection[UUID]) -> frozenset[UUID]:
    """Which of these patients are recorded as deceased (reported or verified)."""
    return deceased_among(patient_ids)
