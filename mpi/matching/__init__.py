"""Record linkage for the Master Patient Index: decides whether two records are one person.

A pure-Python Fellegi-Sunter engine with no framework or database dependency, so that it can
be tested, trained and audited in isolation. Records are normalized (`MatchRecord.from_raw`),
compared field by field into agreement levels (`compare_records`), scored into a probability,
a grade and a per-field explanation (`score_pair`), and the model can be trained on a
tenant's own data (`estimate_u`, `estimate_m_em`, `apply_labels`).
"""

from mpi.matching.compare import (
    FIELD_LEVELS,
    FIELDS,
    ContactLevel,
    DateLevel,
    FieldComparison,
    IdentifierLevel,
    LocationLevel,
    NameLevel,
    RecordComparison,
    SexLevel,
    compare_records,
)
from mpi.matching.model import (
    FieldParameters,
    GradeThresholds,
    ModelParameters,
    TermFrequencyBounds,
    default_parameters,
)
from mpi.matching.normalize import PartialDate, PlaceholderPolicy, parse_partial_date
from mpi.matching.record import MatchRecord
from mpi.matching.score import (
    ExplanationEntry,
    MatchGrade,
    ScoreResult,
    TermFrequencyAdjustment,
    TermFrequencyLookup,
    score_comparison,
    score_pair,
)
from mpi.matching.train import (
    EMResult,
    LabelledPair,
    apply_labels,
    estimate_m_em,
    estimate_u,
    estimate_u_from_levels,
)

__all__ = [
    "FIELDS",
    "FIELD_LEVELS",
    "ContactLevel",
    "DateLevel",
    "EMResult",
    "ExplanationEntry",
    "FieldComparison",
    "FieldParameters",
    "GradeThresholds",
    "IdentifierLevel",
    "LabelledPair",
    "LocationLevel",
    "MatchGrade",
    "MatchRecord",
    "ModelParameters",
    "NameLevel",
    "PartialDate",
    "PlaceholderPolicy",
    "RecordComparison",
    "ScoreResult",
    "SexLevel",
    "TermFrequencyAdjustment",
    "TermFrequencyBounds",
    "TermFrequencyLookup",
    "apply_labels",
    "compare_records",
    "default_parameters",
    "estimate_m_em",
    "estimate_u",
    "estimate_u_from_levels",
    "parse_partial_date",
    "score_comparison",
    "score_pair",
]
