"""Models of this app."""

from mpi.models.batch import LIVE_BATCH_STATUSES, BatchChunk, BatchJob, BatchJobStatus
from mpi.models.matching import MatchDecision, MatchDecisionKind, MatchModel, NameFrequency
from mpi.models.merge import MergeStatus, PatientMerge
from mpi.models.placeholders import PlaceholderField, PlaceholderValue
from mpi.models.review import CandidateGrade, CandidateSource, CandidateStatus, MatchCandidate

__all__ = [
    "LIVE_BATCH_STATUSES",
    "BatchChunk",
    "BatchJob",
    "BatchJobStatus",
    "CandidateGrade",
    "CandidateSource",
    "CandidateStatus",
    "MatchCandidate",
    "MatchDecision",
    "MatchDecisionKind",
    "MatchModel",
    "MergeStatus",
    "NameFrequency",
    "PatientMerge",
    "PlaceholderField",
    "PlaceholderValue",
]
