"""Fellegi-Sunter model parameters: what each comparison level says about a pair.

For every field and level the model holds m = P(level | same person) and
u = P(level | different people); their ratio is the evidence the level carries. Parameters
are plain data with a version label so that a tenant's trained model can be stored as JSON,
audited, and attached to every decision it made.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from mpi.matching.compare import FIELD_LEVELS, FIELDS

# How far the m or u probabilities of one field may sum away from 1 (hand-edited JSON
# rounds its numbers).
PROBABILITY_SUM_TOLERANCE = 1e-3

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


def validate_probability_table(
    field_name: str, kind: str, table: Mapping[str, float]
) -> dict[str, float]:
    """Check one m or u table (every level of the field, each in (0, 1), summing to 1).

    Returns a copy in the field's level order; raises ValueError for anything else, because
    a zero or missing probability would give an infinite or undefined weight.
    """
    if field_name not in FIELD_LEVELS:
        raise ValueError(f"unknown field {field_name!r}; known fields: {list(FIELDS)}")
    expected = set(FIELD_LEVELS[field_name])
    if set(table) != expected:
        raise ValueError(f"{field_name}.{kind} must give exactly the levels {sorted(expected)}")
    for level, probability in table.items():
        if not 0.0 < probability < 1.0:
            raise ValueError(f"{field_name}.{kind}[{level}] must be in (0, 1), not {probability}")
    total = math.fsum(table.values())
    if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
        raise ValueError(f"{field_name}.{kind} must sum to 1, not {total}")
    return {level: float(table[level]) for level in FIELD_LEVELS[field_name]}


@dataclass(frozen=True)
class FieldParameters:
    """m and u probabilities of every non-missing level of one field."""

    field: str
    m: dict[str, float]
    u: dict[str, float]

    def __post_init__(self) -> None:
        """Refuse tables that would give undefined or meaningless weights."""
        object.__setattr__(self, "m", validate_probability_table(self.field, "m", self.m))
        object.__setattr__(self, "u", validate_probability_table(self.field, "u", self.u))

    def weight(self, level: str) -> float:
        """The evidence (log2 m/u) that reaching this level gives for a match."""
        return math.log2(self.m[level] / self.u[level])


@dataclass(frozen=True)
class GradeThresholds:
    """Match probabilities at or above which a pair earns each grade."""

    certain: float = 0.999
    probable: float = 0.95
    possible: float = 0.5

    def __post_init__(self) -> None:
        """Grades must nest: certain above probable above possible."""
        if not 0.0 < self.possible <= self.probable <= self.certain <= 1.0:
            raise ValueError("thresholds must satisfy 0 < possible <= probable <= certain <= 1")


@dataclass(frozen=True)
class TermFrequencyBounds:
    """Limits on the u that a name's frequency may replace, so one value cannot dominate.

    A name seen once in a small tenant would otherwise weigh like an identifier, and a very
    common one would erase the evidence of an exact match.
    """

    min_u: float = 0.0001
    max_u: float = 0.2

    def __post_init__(self) -> None:
        """The bounds must be an interval inside (0, 1)."""
        if not 0.0 < self.min_u <= self.max_u < 1.0:
            raise ValueError("term frequency bounds must satisfy 0 < min_u <= max_u < 1")

    def clamp(self, frequency: float) -> float:
        """The frequency moved inside the bounds."""
        return min(max(frequency, self.min_u), self.max_u)


def _default_auto_link_blockers() -> frozenset[tuple[str, str]]:
    """Contradictions that keep a pair out of automatic linking however strong the rest is."""
    return frozenset(
        {
            ("birth_date", "FAR"),
            ("sex", "FAR"),
            ("identifiers", "SAME_SYSTEM_DIFFERENT"),
        }
    )


@dataclass(frozen=True)
class ModelParameters:
    """Everything a tenant's matcher needs: per-field m/u, prior, grading rules, version.

    `match_prior` is lambda, the share of true matches among the candidate pairs the
    blocking step produces. `auto_link_blockers` lists (field, level) contradictions that
    cap a pair at PROBABLE: a Jr/Sr pair agreeing on name, address and phone must not be
    merged automatically only because their birth dates are the one thing that differs.
    """

    version: str
    fields: dict[str, FieldParameters]
    match_prior: float
    thresholds: GradeThresholds = field(default_factory=GradeThresholds)
    term_frequency_bounds: TermFrequencyBounds = field(default_factory=TermFrequencyBounds)
    auto_link_blockers: frozenset[tuple[str, str]] = field(
        default_factory=_default_auto_link_blockers
    )

    def __post_init__(self) -> None:
        """Require parameters for every compared field and a prior strictly inside (0, 1)."""
        if set(self.fields) != set(FIELDS):
            raise ValueError(f"parameters must cover exactly the fields {list(FIELDS)}")
        for field_name, parameters in self.fields.items():
            if parameters.field != field_name:
                raise ValueError(f"parameters for {field_name!r} are labelled {parameters.field!r}")
        if not 0.0 < self.match_prior < 1.0:
            raise ValueError(f"lambda must be in (0, 1), not {self.match_prior}")
        for field_name, level in self.auto_link_blockers:
            if level not in FIELD_LEVELS.get(field_name, ()):
                raise ValueError(f"auto-link blocker {field_name}={level} is not a known level")

    @property
    def prior_weight(self) -> float:
        """The prior odds of a match, in bits: log2(lambda / (1 - lambda))."""
        return math.log2(self.match_prior / (1.0 - self.match_prior))

    def with_probabilities(
        self,
        *,
        m: Mapping[str, Mapping[str, float]],
        u: Mapping[str, Mapping[str, float]],
        match_prior: float,
        version: str,
    ) -> ModelParameters:
        """A copy with new m, u and lambda; thresholds and blockers carry over."""
        return ModelParameters(
            version=version,
            fields={
                field_name: FieldParameters(field_name, dict(m[field_name]), dict(u[field_name]))
                for field_name in FIELDS
            },
            match_prior=match_prior,
            thresholds=self.thresholds,
            term_frequency_bounds=self.term_frequency_bounds,
            auto_link_blockers=self.auto_link_blockers,
        )

    def to_dict(self) -> dict[str, JsonValue]:
        """A JSON-ready form, for storing a tenant's model and auditing decisions."""
        blockers: dict[str, list[JsonValue]] = {}
        for field_name, level in sorted(self.auto_link_blockers):
            blockers.setdefault(field_name, []).append(level)
        fields: dict[str, JsonValue] = {
            field_name: {
                "m": dict[str, JsonValue](self.fields[field_name].m),
                "u": dict[str, JsonValue](self.fields[field_name].u),
            }
            for field_name in FIELDS
        }
        return {
            "version": self.version,
            "lambda": self.match_prior,
            "thresholds": {
                "certain": self.thresholds.certain,
                "probable": self.thresholds.probable,
                "possible": self.thresholds.possible,
            },
            "term_frequency_bounds": {
                "min_u": self.term_frequency_bounds.min_u,
                "max_u": self.term_frequency_bounds.max_u,
            },
            "auto_link_blockers": dict[str, JsonValue](blockers),
            "fields": fields,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ModelParameters:
        """Rebuild parameters from `to_dict` output; ValueError when anything is malformed."""
        try:
            fields_data = _mapping(data["fields"])
            thresholds = _mapping(data.get("thresholds", {}))
            bounds = _mapping(data.get("term_frequency_bounds", {}))
            blockers = _mapping(data.get("auto_link_blockers", {}))
            defaults = GradeThresholds()
            default_bounds = TermFrequencyBounds()
            return cls(
                version=str(data["version"]),
                match_prior=_number(data["lambda"]),
                fields={
                    field_name: FieldParameters(
                        field_name,
                        _probability_table(_mapping(field_data)["m"]),
                        _probability_table(_mapping(field_data)["u"]),
                    )
                    for field_name, field_data in fields_data.items()
                },
                thresholds=GradeThresholds(
                    certain=_number(thresholds.get("certain", defaults.certain)),
                    probable=_number(thresholds.get("probable", defaults.probable)),
                    possible=_number(thresholds.get("possible", defaults.possible)),
                ),
                term_frequency_bounds=TermFrequencyBounds(
                    min_u=_number(bounds.get("min_u", default_bounds.min_u)),
                    max_u=_number(bounds.get("max_u", default_bounds.max_u)),
                ),
                auto_link_blockers=frozenset(
                    (field_name, str(level))
                    for field_name, levels in blockers.items()
                    for level in _sequence(levels)
                ),
            )
        except KeyError as missing:
            raise ValueError(f"model parameters lack {missing}") from missing


def _mapping(value: object) -> Mapping[str, object]:
    """The value as a string-keyed mapping, or ValueError."""
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise ValueError(f"expected an object, got {value!r}")
    return value


def _sequence(value: object) -> list[object]:
    """The value as a list, or ValueError."""
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list, got {value!r}")
    return list(value)


def _number(value: object) -> float:
    """The value as a float, or ValueError (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _probability_table(value: object) -> dict[str, float]:
    """A level -> probability table, or ValueError."""
    return {level: _number(probability) for level, probability in _mapping(value).items()}


# Built-in probabilities, so a new tenant matches sensibly before any training. m values
# reflect typical registration data quality (names mistyped in a few percent of records);
# u values reflect how often unrelated people coincide on each level.
_DEFAULT_PROBABILITIES: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    "family": (
        {"EXACT": 0.90, "CLOSE": 0.05, "PARTIAL": 0.02, "FAR": 0.03},
        {"EXACT": 0.01, "CLOSE": 0.005, "PARTIAL": 0.004, "FAR": 0.981},
    ),
    "given": (
        {"EXACT": 0.85, "ALIAS": 0.05, "CLOSE": 0.04, "PARTIAL": 0.04, "FAR": 0.02},
        {"EXACT": 0.02, "ALIAS": 0.002, "CLOSE": 0.01, "PARTIAL": 0.008, "FAR": 0.96},
    ),
    "birth_date": (
        {
            "EXACT": 0.90,
            "ONE_COMPONENT_OFF": 0.05,
            "DAY_MONTH_SWAPPED": 0.01,
            "YEAR_ONLY": 0.02,
            "FAR": 0.02,
        },
        {
            "EXACT": 0.0005,
            "ONE_COMPONENT_OFF": 0.004,
            "DAY_MONTH_SWAPPED": 0.0002,
            "YEAR_ONLY": 0.012,
            "FAR": 0.9833,
        },
    ),
    "sex": ({"EXACT": 0.99, "FAR": 0.01}, {"EXACT": 0.5, "FAR": 0.5}),
    "identifiers": (
        {"SAME_SYSTEM_EQUAL": 0.95, "SAME_SYSTEM_DIFFERENT": 0.05},
        {"SAME_SYSTEM_EQUAL": 0.0001, "SAME_SYSTEM_DIFFERENT": 0.9999},
    ),
    "phone": ({"EXACT": 0.6, "FAR": 0.4}, {"EXACT": 0.005, "FAR": 0.995}),
    "postal_code": (
        {"EXACT": 0.75, "CLOSE": 0.1, "FAR": 0.15},
        {"EXACT": 0.05, "CLOSE": 0.1, "FAR": 0.85},
    ),
    "address": (
        {"EXACT": 0.5, "CLOSE": 0.1, "FAR": 0.4},
        {"EXACT": 0.005, "CLOSE": 0.002, "FAR": 0.993},
    ),
    # An e-mail address is shared within a household more often than a phone is thought to
    # be: parents register children, a Jr and a Sr share one. With u at 1e-4, the same name
    # and e-mail outweighed a contradicting birth date (PROBABLE); at 1e-3 such a pair is
    # POSSIBLE, for review.
    "email": ({"EXACT": 0.5, "FAR": 0.5}, {"EXACT": 0.001, "FAR": 0.999}),
}

DEFAULT_MATCH_PRIOR = 0.001
DEFAULT_PARAMETERS_VERSION = "default-1"


def default_parameters() -> ModelParameters:
    """Untrained parameters that make a brand-new tenant's matcher behave sensibly.

    With them, agreement on full name and birth date is CERTAIN, name and birth date with a
    contradicting given name (twins) is only POSSIBLE, and a shared identifier with
    everything else contradicting is CERTAINLY_NOT.
    """
    return ModelParameters(
        version=DEFAULT_PARAMETERS_VERSION,
        fields={
            field_name: FieldParameters(field_name, dict(m), dict(u))
            for field_name, (m, u) in _DEFAULT_PROBABILITIES.items()
        },
        match_prior=DEFAULT_MATCH_PRIOR,
    )
