"""Candidate generation: which of the tenant's patients could be the person described.

Scoring every patient is impossible at a million records, so blocking passes in PostgreSQL,
each answered from an index, propose a bounded set that the scorer then examines. A pass
that finds nothing costs little; a person is missed only when every pass misses them, so the
passes are chosen to fail on different mistakes (a typo, a nickname, a changed surname, a
mistyped birth date, a new phone). All passes run as one statement (one round trip).

Placeholder values ("UNKNOWN", 000-00-0000, a clinic's shared phone) never block: they are
dropped from the query before any pass runs. The bound is never applied silently: every pass
fetches one row more than the bound, and `CandidateSet.truncated` says whether anything was
left out. See docs/MATCHING.md for each pass's index and why the similar-names pass reads
through the `mpi_name_search` view.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any
from uuid import UUID

from mpi.matching.normalize import PlaceholderPolicy
from registration.models import TelecomSystem
from registration.models.patient import TRIGRAM_BIRTH_YEAR_BUCKETS
from registration.services.inputs import PatientInput
from registration.services.search_keys import name_search_columns, primary_name, telecom_key
from tenancy.db import tenant_cursor

DEFAULT_CANDIDATE_BOUND = 100
# Birth years either side of the query's that the similar-names pass still searches.
BIRTH_YEAR_WINDOW = 1
_NO_PATIENT = UUID(int=0)

_PHONE_SYSTEMS = frozenset({TelecomSystem.PHONE, TelecomSystem.SMS, TelecomSystem.FAX})


class CandidatePass(StrEnum):
    """The blocking passes, in the order their finds are preferred when the bound bites."""

    IDENTIFIER = "identifier"
    TELECOM = "telecom"
    SIMILAR_NAMES = "similar_names"
    SAME_BIRTH_DATE = "same_birth_date"
    PHONETIC = "phonetic"


_PRIORITY = {candidate_pass: rank for rank, candidate_pass in enumerate(CandidatePass)}

# Each pass: patient_id and a relevance rank (higher first) used to keep the best rows
# when a pass finds more than the bound. `%%` is pg_trgm's similarity operator, escaped for
# the driver's parameter syntax.
PASS_SQL: dict[CandidatePass, str] = {
    # Exact system + value among active identifiers: the partial unique index.
    CandidatePass.IDENTIFIER: """
        SELECT DISTINCT i.patient_id, 1.0::float8 AS rank
          FROM unnest(%(id_systems)s::text[], %(id_values)s::text[]) AS q(system, value)
          JOIN registration_patientidentifier i
            ON i.system = q.system AND i.value = q.value AND i.retired_at IS NULL
          JOIN registration_patient p ON p.id = i.patient_id
         WHERE p.active AND p.id <> %(exclude)s::uuid
         LIMIT %(limit)s""",
    # Same normalized phone or e-mail: btree (tenant, value_normalized).
    CandidatePass.TELECOM: """
        SELECT DISTINCT t.patient_id, 1.0::float8 AS rank
          FROM registration_patienttelecom t
          JOIN registration_patient p ON p.id = t.patient_id
         WHERE t.value_normalized = ANY(%(telecoms)s::text[])
           AND p.active AND p.id <> %(exclude)s::uuid
         LIMIT %(limit)s""",
    # Born the same day (or with day and month swapped) and one name similar: btree
    # (tenant, birth_date), then the names of those few patients by their foreign key.
    CandidatePass.SAME_BIRTH_DATE: """
        SELECT n.patient_id,
               max(greatest(
                   similarity(n.family_folded, %(family)s), similarity(n.given_folded, %(given)s),
                   similarity(n.family_folded, %(given)s), similarity(n.given_folded, %(family)s)
               ))::float8 AS rank
          FROM registration_patient p
          JOIN registration_patientname n ON n.patient_id = p.id
         WHERE p.birth_date = ANY(%(birth_dates)s::date[])
           AND p.active AND p.id <> %(exclude)s::uuid
           AND (n.family_folded %% %(family)s OR n.given_folded %% %(given)s
                OR n.family_folded %% %(given)s OR n.given_folded %% %(family)s)
         GROUP BY n.patient_id
         ORDER BY rank DESC, n.patient_id
         LIMIT %(limit)s""",
    # Same Metaphone key of the family name, same birth year, and the same birth month or day
    # (so a date with one component mistyped still meets it): btree
    # (tenant, family_phonetic, birth_year). Catches sound-alike spellings trigrams miss
    # ("Wright"/"Rite"); the closest given names first.
    CandidatePass.PHONETIC: """
        SELECT n.patient_id, max(similarity(n.given_folded, %(given)s))::float8 AS rank
          FROM registration_patientname n
          JOIN registration_patient p ON p.id = n.patient_id
         WHERE n.family_phonetic = %(family_phonetic)s AND n.birth_year = %(year)s
           AND (extract(month FROM p.birth_date) = %(month)s
                OR extract(day FROM p.birth_date) = %(day)s)
           AND p.active AND p.id <> %(exclude)s::uuid
         GROUP BY n.patient_id
         ORDER BY rank DESC, n.patient_id
         LIMIT %(limit)s""",
}


# Both names similar (pg_trgm's `%%`, either order), born within the window or with no birth
# year on record. Each birth-year bucket the window touches is its own arm on lower(...), so
# that the planner proves that bucket's partial two-name trigram index applies (and no other
# index matches the expression) and answers each arm with one small GIN scan; read through
# the mpi_name_search view (see docs/MATCHING.md). Without a birth date in the query: every
# year, through the full-table GIN index of each name.
_SIMILAR_NAMES_SQL = """
        SELECT s.patient_id, max(greatest(
                   similarity(s.family_folded, %(family)s) + similarity(s.given_folded, %(given)s),
                   similarity(s.family_folded, %(given)s) + similarity(s.given_folded, %(family)s)
               ))::float8 AS rank
          FROM mpi_name_search s
         WHERE ({arms})
           AND s.patient_id <> %(exclude)s::uuid
         GROUP BY s.patient_id
         ORDER BY rank DESC, s.patient_id
         LIMIT %(limit)s"""
_BOTH_NAMES = (
    "s.family_folded %% %(family)s AND s.given_folded %% %(given)s",
    "s.family_folded %% %(given)s AND s.given_folded %% %(family)s",
)
# The same on lower(...), the expressions the per-bucket partial indexes are built on.
_BOTH_NAMES_BUCKETED = tuple(
    names.replace("s.family_folded", "lower(s.family_folded)").replace(
        "s.given_folded", "lower(s.given_folded)"
    )
    for names in _BOTH_NAMES
)


def year_segments(year: int) -> tuple[tuple[int, int], ...]:
    """The birth-year window around `year`, cut where the trigram index buckets change."""
    low, high = year - BIRTH_YEAR_WINDOW, year + BIRTH_YEAR_WINDOW
    return tuple(
        (max(low, bucket_low), min(high, bucket_high - 1))
        for bucket_low, bucket_high in TRIGRAM_BIRTH_YEAR_BUCKETS
        if max(low, bucket_low) <= min(high, bucket_high - 1)
    )


def similar_names_sql(birth_year: int | None) -> str:
    """The similar-names pass for a query born in `birth_year` (None: any year)."""
    if birth_year is None:
        arms = [f"({names})" for names in _BOTH_NAMES]
    else:
        years = [
            f"s.birth_year BETWEEN {low} AND {high}" for low, high in year_segments(birth_year)
        ]
        arms = [
            f"({year} AND {names})"
            for year in [*years, "s.birth_year IS NULL"]
            for names in _BOTH_NAMES_BUCKETED
        ]
    return _SIMILAR_NAMES_SQL.format(arms="\n                OR ".join(arms))


@dataclass(frozen=True, slots=True)
class CandidateQuery:
    """The blocking keys of the record being matched, placeholders already removed."""

    family: str = ""
    given: str = ""
    family_phonetic: str = ""
    birth_date: date | None = None
    identifiers: tuple[tuple[str, str], ...] = ()
    telecoms: tuple[str, ...] = ()

    def applicable_passes(self) -> tuple[CandidatePass, ...]:
        """The passes this query has keys for (a pass without its keys would match nothing)."""
        passes = []
        if self.identifiers:
            passes.append(CandidatePass.IDENTIFIER)
        if self.telecoms:
            passes.append(CandidatePass.TELECOM)
        if self.family and self.given:
            passes.append(CandidatePass.SIMILAR_NAMES)
        if self.birth_date is not None and (self.family or self.given):
            passes.append(CandidatePass.SAME_BIRTH_DATE)
        if self.birth_date is not None and self.family_phonetic:
            passes.append(CandidatePass.PHONETIC)
        return tuple(passes)

    def parameters(self, *, limit: int, exclude_patient_id: UUID | None = None) -> dict[str, Any]:
        """Values for every placeholder of the passes' statements."""
        year = self.birth_date.year if self.birth_date else None
        return {
            "id_systems": [system for system, _ in self.identifiers],
            "id_values": [value for _, value in self.identifiers],
            "telecoms": list(self.telecoms),
            "family": self.family,
            "given": self.given,
            "family_phonetic": self.family_phonetic,
            "year": year,
            "month": self.birth_date.month if self.birth_date else None,
            "day": self.birth_date.day if self.birth_date else None,
            "birth_dates": list(birth_date_variants(self.birth_date)),
            "exclude": exclude_patient_id or _NO_PATIENT,
            "limit": limit,
        }


def birth_date_variants(birth_date: date | None) -> tuple[date, ...]:
    """The date itself and, when it is a valid date, the same date with day and month swapped."""
    if birth_date is None:
        return ()
    if birth_date.day != birth_date.month and birth_date.day <= 12:
        # A day of at most 12 is a valid month, and any month number is a valid day.
        return (birth_date, birth_date.replace(month=birth_date.day, day=birth_date.month))
    return (birth_date,)


def candidate_query(data: PatientInput, policy: PlaceholderPolicy) -> CandidateQuery:
    """Blocking keys for a record as registration would store it, minus its placeholders."""
    birth_date = data.birth_date
    if birth_date is not None and policy.is_placeholder("birth_date", birth_date.isoformat()):
        birth_date = None
    family = given = family_phonetic = ""
    name = primary_name(data.names)
    if name is not None:
        keys = name_search_columns(name, birth_date)
        first_given = name.given[0] if name.given else ""
        whole = f"{first_given} {name.family}".strip()
        if not (whole and policy.is_placeholder("name", whole)):
            if keys.family_folded and not policy.is_placeholder("name", name.family):
                family, family_phonetic = keys.family_folded, keys.family_phonetic
            if keys.given_folded and not policy.is_placeholder("name", first_given):
                given = keys.given_folded
    identifiers = tuple(
        dict.fromkeys(
            (identifier.system, identifier.value)
            for identifier in data.identifiers
            if not policy.is_placeholder("identifier", identifier.value)
        )
    )
    return CandidateQuery(
        family=family,
        given=given,
        family_phonetic=family_phonetic,
        birth_date=birth_date,
        identifiers=identifiers,
        telecoms=tuple(dict.fromkeys(_telecom_keys(data, policy))),
    )


def _telecom_keys(data: PatientInput, policy: PlaceholderPolicy) -> Iterable[str]:
    """Stored-form keys of the record's phones and e-mails that are not placeholders."""
    for telecom in data.telecoms:
        key = telecom_key(telecom.system, telecom.value)
        if not key:
            continue
        if telecom.system in _PHONE_SYSTEMS and policy.is_placeholder("phone", key):
            continue
        if telecom.system == TelecomSystem.EMAIL and policy.is_placeholder("email", key):
            continue
        if telecom.system in _PHONE_SYSTEMS or telecom.system == TelecomSystem.EMAIL:
            yield key


@dataclass(frozen=True)
class CandidateSet:
    """The patients the passes proposed, best first, and whether the bound left any out."""

    patient_ids: tuple[UUID, ...]
    found_by: dict[UUID, tuple[str, ...]] = field(default_factory=dict)
    truncated: bool = False
    bound: int = DEFAULT_CANDIDATE_BOUND
    pass_counts: dict[str, int] = field(default_factory=dict)


def pass_sql(candidate_pass: CandidatePass, query: CandidateQuery) -> str:
    """The statement of one pass for this query (only similar-names depends on the query)."""
    if candidate_pass is CandidatePass.SIMILAR_NAMES:
        return similar_names_sql(query.birth_date.year if query.birth_date else None)
    return PASS_SQL[candidate_pass]


def union_sql(query: CandidateQuery) -> str:
    """One statement running every pass the query has keys for, each row labelled."""
    return "\nUNION ALL\n".join(
        f"(SELECT '{candidate_pass.value}'::text AS pass, c.patient_id, c.rank "  # noqa: S608 - module constants only
        f"FROM ({pass_sql(candidate_pass, query)}) AS c)"
        for candidate_pass in query.applicable_passes()
    )


def _order_key(item: tuple[UUID, dict[CandidatePass, float]]) -> tuple[Any, ...]:
    """Found by more passes first, then by the most trusted pass, then by its rank."""
    patient_id, ranks = item
    best = min(ranks, key=_PRIORITY.__getitem__)
    return (-len(ranks), _PRIORITY[best], -ranks[best], str(patient_id))


def match_candidates(
    query: CandidateQuery,
    *,
    bound: int = DEFAULT_CANDIDATE_BOUND,
    exclude_patient_id: UUID | None = None,
) -> CandidateSet:
    """Run every applicable pass in one statement and merge their finds, at most `bound`."""
    if bound < 1:
        raise ValueError("the candidate bound must be at least 1")
    passes = query.applicable_passes()
    if not passes:
        return CandidateSet(patient_ids=(), bound=bound)
    with tenant_cursor() as cursor:
        cursor.execute(
            union_sql(query),
            query.parameters(limit=bound + 1, exclude_patient_id=exclude_patient_id),
        )
        rows: list[tuple[str, UUID, float]] = cursor.fetchall()
    found: dict[UUID, dict[CandidatePass, float]] = {}
    pass_counts = dict.fromkeys((str(candidate_pass) for candidate_pass in passes), 0)
    for pass_name, patient_id, rank in rows:
        candidate_pass = CandidatePass(pass_name)
        pass_counts[pass_name] += 1
        ranks = found.setdefault(patient_id, {})
        ranks[candidate_pass] = max(rank, ranks.get(candidate_pass, rank))
    ordered = sorted(found.items(), key=_order_key)
    truncated = len(ordered) > bound or any(count > bound for count in pass_counts.values())
    kept = ordered[:bound]
    return CandidateSet(
        patient_ids=tuple(patient_id for patient_id, _ in kept),
        found_by={
            patient_id: tuple(str(p) for p in sorted(ranks, key=_PRIORITY.__getitem__))
            for patient_id, ranks in kept
        },
        truncated=truncated,
        bound=bound,
        pass_counts=pass_counts,
    )
