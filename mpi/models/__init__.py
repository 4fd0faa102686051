"""Models of this app."""

from mpi.models.matching import MatchDecision, MatchDecisionKind, MatchModel, NameFrequency

__all__ = ["MatchDecision", "MatchDecisionKind", "MatchModel", "NameFrequency"]
