"""Proposing scored pairs to the review queue (`MatchCandidate`), in bulk.

Batch deduplication (and any other proposer) hands over scored pairs; they are upserted in one
statement per chunk: a new pair becomes an OPEN candidate, a still-OPEN pair gets its score,
grade, explanation and model version refreshed, and a pair that a steward decided (it has a
`MatchDecision`) or whose candidate row has moved on (decided, merged, superseded) is left
alone. One audit row summarises the chunk; it carries counts and the model version, no PHI.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import transaction

from mpi.matching.score import ExplanationEntry, MatchGrade
from mpi.models import CandidateGrade, CandidateSource
from tenancy.db import current_tenant_id, tenant_cursor
from tenancy.principal import Principal
from tenancy.services.audit import audit_record

_GRADES = {
    MatchGrade.CERTAIN: CandidateGrade.CERTAIN,
    MatchGrade.PROBABLE: CandidateGrade.PROBABLE,
    MatchGrade.POSSIBLE: CandidateGrade.POSSIBLE,
}

# New pairs are inserted; existing pairs are refreshed only while OPEN (the WHERE of DO
# UPDATE); pairs with a steward decision never reach the insert. RETURNING tells inserts
# (xmax = 0) from refreshes; rows neither inserted nor refreshed are not returned.
# 'open' is CandidateStatus.OPEN.
_UPSERT_SQL = """
INSERT INTO mpi_matchcandidate AS c
       (id, tenant_id, patient_low_id, patient_high_id, probability, weight, grade,
        explanation, model_version, source, status, auto_linked, assignee, decided_by,
        reason, created_at, updated_at)
SELECT gen_random_uuid(), %(tenant)s, v.low, v.high, v.probability, v.weight, v.grade,
       v.explanation::jsonb, %(model_version)s, %(source)s, 'open', false,
       '', '', '', now(), now()
  FROM unnest(%(low)s::uuid[], %(high)s::uuid[], %(probability)s::float8[],
              %(weight)s::float8[], %(grade)s::text[], %(explanation)s::text[])
       AS v(low, high, probability, weight, grade, explanation)
 WHERE NOT EXISTS (SELECT 1 FROM mpi_matchdecision d
                    WHERE d.tenant_id = %(tenant)s
                      AND d.patient_low_id = v.low AND d.patient_high_id = v.high)
ON CONFLICT (tenant_id, patient_low_id, patient_high_id) DO UPDATE
   SET probability = EXCLUDED.probability, weight = EXCLUDED.weight, grade = EXCLUDED.grade,
       explanation = EXCLUDED.explanation, model_version = EXCLUDED.model_version,
       updated_at = EXCLUDED.updated_at
 WHERE c.status = 'open'
RETURNING id, (xmax = 0) AS inserted, grade, patient_low_id, patient_high_id, auto_linked
"""


@dataclass(frozen=True, slots=True)
class ScoredPair:
    """Two patients the engine scored, with its verdict (either order; stored canonically)."""

    patient_id: UUID
    other_patient_id: UUID
    probability: float
    weight: float
    grade: MatchGrade
    explanation: tuple[ExplanationEntry, ...]


@dataclass(frozen=True, slots=True)
class ProposalSummary:
    """What one proposal did, for progress counters, the audit row and the auto-linker."""

    offered: int = 0
    inserted: int = 0
    refreshed: int = 0
    # Pairs decided by a steward, or whose candidate is no longer OPEN: left untouched.
    skipped: int = 0
    # CERTAIN pairs now OPEN (inserted or refreshed): what the auto-linker looks at.
    certain: int = 0
    # Their candidate ids (not part of the counts of `to_dict`).
    certain_ids: tuple[UUID, ...] = field(default=(), compare=False)
    # Those not linked yet, as (candidate id, low patient id, high patient id): rows the
    # proposal's statement wrote, so its transaction holds their locks.
    certain_unlinked: tuple[tuple[UUID, UUID, UUID], ...] = field(default=(), compare=False)

    def __add__(self, other: "ProposalSummary") -> "ProposalSummary":
        return ProposalSummary(
            offered=self.offered + other.offered,
            inserted=self.inserted + other.inserted,
            refreshed=self.refreshed + other.refreshed,
            skipped=self.skipped + other.skipped,
            certain=self.certain + other.certain,
            certain_ids=self.certain_ids + other.certain_ids,
            certain_unlinked=self.certain_unlinked + other.certain_unlinked,
        )

    def to_dict(self) -> dict[str, int]:
        """JSON-ready counts."""
        return {
            "offered": self.offered,
            "inserted": self.inserted,
            "refreshed": self.refreshed,
            "skipped": self.skipped,
            "certain": self.certain,
        }


def _canonical(pairs: Iterable[ScoredPair]) -> dict[tuple[UUID, UUID], ScoredPair]:
    """Proposable pairs by (low, high); a pair given twice keeps its stronger score.

    CERTAINLY_NOT pairs and a patient paired with itself are not proposals. One statement may
    not upsert a row twice, hence the de-duplication here.
    """
    best: dict[tuple[UUID, UUID], ScoredPair] = {}
    for pair in pairs:
        if pair.grade not in _GRADES or pair.patient_id == pair.other_patient_id:
            continue
        low, high = sorted((pair.patient_id, pair.other_patient_id))
        kept = best.get((low, high))
        if kept is None or pair.weight > kept.weight:
            best[(low, high)] = pair
    return best


def match_candidates_propose(
    *,
    actor: Principal | None,
    pairs: Iterable[ScoredPair],
    model_version: str,
    source: CandidateSource = CandidateSource.BATCH,
) -> ProposalSummary:
    """Upsert scored pairs of the current tenant into the review queue; one statement in all.

    Never re-proposes a decided pair and never touches a candidate that is no longer OPEN;
    refreshes an OPEN pair's score, grade, explanation and model version. CERTAINLY_NOT pairs
    are dropped. Writes one audit row with the counts (none when nothing was offered).
    """
    proposals = _canonical(pairs)
    if not proposals:
        return ProposalSummary()
    tenant_id = current_tenant_id()
    params: dict[str, Any] = {
        "tenant": tenant_id,
        "model_version": model_version,
        "source": str(source),
        "low": [low for low, _ in proposals],
        "high": [high for _, high in proposals],
        "probability": [pair.probability for pair in proposals.values()],
        "weight": [pair.weight for pair in proposals.values()],
        "grade": [str(_GRADES[pair.grade]) for pair in proposals.values()],
        "explanation": [
            json.dumps([entry.to_dict() for entry in pair.explanation])
            for pair in proposals.values()
        ],
    }
    with transaction.atomic():
        with tenant_cursor() as cursor:
            cursor.execute(_UPSERT_SQL, params)
            returned = cursor.fetchall()
        inserted = sum(1 for _, was_inserted, *_ in returned if was_inserted)
        certain = [row for row in returned if row[2] == CandidateGrade.CERTAIN]
        certain_ids = tuple(row[0] for row in certain)
        certain_unlinked = tuple(
            (candidate_id, low, high)
            for candidate_id, _, _, low, high, auto_linked in certain
            if not auto_linked
        )
        summary = ProposalSummary(
            offered=len(proposals),
            inserted=inserted,
            refreshed=len(returned) - inserted,
            skipped=len(proposals) - len(returned),
            certain=len(certain_ids),
            certain_ids=certain_ids,
            certain_unlinked=certain_unlinked,
        )
        audit_record(
            actor=actor,
            action="mpi.candidates_proposed",
            object_type="tenant",
            object_id=str(tenant_id),
            details={**summary.to_dict(), "model_version": model_version, "source": str(source)},
        )
    return summary
