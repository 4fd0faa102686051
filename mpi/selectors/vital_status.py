"""HOOK for the vital-status rule of matching: a deceased patient is never auto-linked.

Registration does not record vital status yet, so no patient is known to be deceased and this
returns nothing. When vital status exists, answer from it here (one query over the candidate
ids); `match_patient` already caps a deceased candidate's CERTAIN grade at PROBABLE, which
sends the pair to a steward instead of linking it automatically.
"""

from collections.abc import Collection
from uuid import UUID


def deceased_patient_ids(patient_ids: Collection[UUID]) -> frozenset[UUID]:
    """Which of these patients are recorded as deceased (always none until vital status exists)."""
    del patient_ids  # read once vital status is recorded
    return frozenset()
