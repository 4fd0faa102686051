"""Models of this app."""

from mpi.models.matching import MatchDecision, MatchDecisionKind, MatchModel, NameFrequency
from mpi.models.review import CandidateGrade, CandidateSource, CandidateStatus, MatchCandidate

__all__ = [
    "CandidateGrade",
    "CandidateSource",
    "CandidateStatus",
    "MatchCandidate",
    "MatchDecision",
    "MatchDecisionKind",
    "MatchModel",
    "NameFrequency",
]
