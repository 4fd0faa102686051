"""Blocking for batch deduplication: which pairs of a tenant's patients are worth scoring.

PostgreSQL does the blocking; Python only scores. Each rule groups active patients (by their
first name row) on a key; the pairs of a rule are the pairs sharing a key that also pass the
rule's pair condition and that no earlier rule produced, so every pair is produced by exactly
one rule. A rule's keys are cut into chunks of whole keys (`plan_key_chunks` for a batch job,
`next_key_chunk` one at a time for training), so a chunk is a key range (after, upto].

Rules (key; extra pair condition; what they find):

- `phonetic_family_year`: Metaphone of family + birth year; same given-name sound, same
  given initial or same birth date; typos, accents, sound-alikes.
- `phonetic_given_birth_date`: Metaphone of given + birth year; same birth date; changed or
  mistyped family names.
- `phonetic_names_month_day`: Metaphone of family and of given; same birth month and day;
  mistyped birth years.

Placeholder names ("UNKNOWN", "BABY GIRL", a tenant's own) never block: a row whose name
part is a placeholder is left out of the rules keyed on that part. Pairs a steward decided are
left out here too, before scoring.
"""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from mpi.matching.normalize import PlaceholderPolicy
from tenancy.db import tenant_cursor

Key = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class BlockingRule:
    """One blocking rule: its key columns (of the name row), eligibility and pair condition."""

    name: str
    # Columns of registration_patientname `n` forming the key, in index order.
    columns: tuple[str, ...]
    # Condition on the blocked row `b` (see _BLOCKED) for taking part in this rule.
    eligible: str
    # Extra condition on a pair `x`, `y` of blocked rows sharing the key.
    pair: str


# Column aliases of the blocked relation (see _BLOCKED).
_ALIASES = {"family_phonetic": "fp", "given_phonetic": "gp", "birth_year": "yr"}

BLOCKING_RULES: tuple[BlockingRule, ...] = (
    BlockingRule(
        name="phonetic_family_year",
        columns=("family_phonetic", "birth_year"),
        eligible="{b}.fp <> '' AND {b}.yr IS NOT NULL AND NOT {b}.family_placeholder",
        # A second piece of evidence, so common surnames do not pair every namesake of a year.
        pair="(x.gp = y.gp OR x.gi = y.gi OR x.bd = y.bd)",
    ),
    BlockingRule(
        name="phonetic_given_birth_date",
        columns=("given_phonetic", "birth_year"),
        eligible="{b}.gp <> '' AND {b}.yr IS NOT NULL AND NOT {b}.given_placeholder",
        pair="x.bd = y.bd",
    ),
    BlockingRule(
        name="phonetic_names_month_day",
        columns=("family_phonetic", "given_phonetic"),
        eligible=(
            "{b}.fp <> '' AND {b}.gp <> '' AND {b}.bd IS NOT NULL"
            " AND NOT {b}.family_placeholder AND NOT {b}.given_placeholder"
        ),
        pair="x.mo = y.mo AND x.dy = y.dy",
    ),
)

# The patients a batch looks at: active ones, by their first name row, within the slice.
_BLOCKED = """
SELECT n.patient_id AS pid, n.family_phonetic AS fp, n.given_phonetic AS gp,
       left(n.given_folded, 1) AS gi, n.birth_year AS yr, p.birth_date AS bd,
       extract(month FROM p.birth_date)::int AS mo, extract(day FROM p.birth_date)::int AS dy,
       (n.family_folded = ANY(%(placeholders)s)
        OR (n.given_folded || ' ' || n.family_folded) = ANY(%(placeholders)s))
         AS family_placeholder,
       (n.given_folded = ANY(%(placeholders)s)
        OR (n.given_folded || ' ' || n.family_folded) = ANY(%(placeholders)s))
         AS given_placeholder
  FROM registration_patientname n
  JOIN registration_patient p ON p.id = n.patient_id
 WHERE n.position = 0 AND p.active
   AND (%(year_from)s::int IS NULL OR n.birth_year >= %(year_from)s::int)
   AND (%(year_to)s::int IS NULL OR n.birth_year <= %(year_to)s::int)
   {range}
"""


@dataclass(frozen=True, slots=True)
class BatchSlice:
    """Which patients a batch covers: those born within the years given (None = open)."""

    birth_year_from: int | None = None
    birth_year_to: int | None = None


@dataclass(frozen=True, slots=True)
class KeyChunk:
    """Whole keys of one rule totalling about the chunk size: the range (after, upto]."""

    upto: Key
    patients: int
    keys: int


def _placeholder_names(policy: PlaceholderPolicy) -> list[str]:
    """The policy's name placeholders as folded names compare (lower case)."""
    return sorted(name.lower() for name in policy.names)


def _params(batch_slice: BatchSlice, policy: PlaceholderPolicy, **extra: Any) -> dict[str, Any]:
    return {
        "placeholders": _placeholder_names(policy),
        "year_from": batch_slice.birth_year_from,
        "year_to": batch_slice.birth_year_to,
        **extra,
    }


def _key_columns(rule: BlockingRule) -> str:
    return ", ".join(f"n.{column}" for column in rule.columns)


def _range(rule: BlockingRule, *, after: bool, upto: bool) -> str:
    """Key-range conditions on the name row (row comparisons, so the btree index applies)."""
    columns = _key_columns(rule)
    width = len(rule.columns)
    parts = []
    if after:
        parts.append(f"AND ({columns}) > ({', '.join(f'%(after{i})s' for i in range(width))})")
    if upto:
        parts.append(f"AND ({columns}) <= ({', '.join(f'%(upto{i})s' for i in range(width))})")
    return "\n   ".join(parts)


def _bound(prefix: str, key: Key | None) -> dict[str, Any]:
    return {} if key is None else {f"{prefix}{i}": value for i, value in enumerate(key)}


def _keys_of(rule: BlockingRule) -> str:
    return ", ".join(_ALIASES[column] for column in rule.columns)


def blocked_patient_count(
    rule: BlockingRule, batch_slice: BatchSlice, policy: PlaceholderPolicy
) -> int:
    """How many patients take part in `rule` (the rule's share of a job's total)."""
    eligible = rule.eligible.format(b="b")
    # Composed only from this module's constant SQL fragments.
    sql = f"SELECT count(*) FROM ({_BLOCKED.format(range='')}) b WHERE {eligible}"  # noqa: S608
    with tenant_cursor() as cursor:
        cursor.execute(sql, _params(batch_slice, policy))
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def next_key_chunk(
    rule: BlockingRule,
    *,
    after: Key | None,
    chunk_patients: int,
    batch_slice: BatchSlice,
    policy: PlaceholderPolicy,
) -> KeyChunk | None:
    """The next whole keys after `after` holding about `chunk_patients` patients (None: done).

    A key is never split, so a chunk holds at least one key, however many patients share it.
    """
    keys = _keys_of(rule)
    blocked = _BLOCKED.format(range=_range(rule, after=after is not None, upto=False))
    sql = (
        f"SELECT {keys}, count(*) FROM ({blocked}) b WHERE {rule.eligible.format(b='b')}"  # noqa: S608 - constant fragments
        f" GROUP BY {keys} ORDER BY {keys} LIMIT %(limit)s"
    )
    params = _params(batch_slice, policy, limit=chunk_patients, **_bound("after", after))
    with tenant_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return None
    patients = 0
    taken = 0
    for row in rows:
        patients += row[-1]
        taken += 1
        if patients >= chunk_patients:
            break
    return KeyChunk(upto=tuple(rows[taken - 1][:-1]), patients=patients, keys=taken)


@dataclass(frozen=True, slots=True)
class PlannedChunk:
    """One chunk of a rule's key order: whole keys in (after, upto], about `patients` rows."""

    rule: int
    after: Key | None
    upto: Key
    patients: int


def plan_key_chunks(
    rule_index: int,
    *,
    after: Key | None,
    chunk_patients: int,
    batch_slice: BatchSlice,
    policy: PlaceholderPolicy,
) -> list[PlannedChunk]:
    """Cut rule `rule_index`'s keys after `after` into chunks of about `chunk_patients`.

    One statement per rule: the keys with their patient counts, numbered by the patients
    before them in key order, cut every `chunk_patients`. A key is never split, so a chunk
    holds at least one key, however many patients share it.
    """
    rule = BLOCKING_RULES[rule_index]
    keys = _keys_of(rule)
    blocked = _BLOCKED.format(range=_range(rule, after=after is not None, upto=False))
    sql = f"""
WITH k AS (SELECT {keys}, count(*) AS c FROM ({blocked}) b
            WHERE {rule.eligible.format(b="b")} GROUP BY {keys}),
     r AS (SELECT {keys}, c,
                  (sum(c) OVER (ORDER BY {keys}) - c)::bigint / %(chunk)s::bigint AS chunk_no
             FROM k)
SELECT DISTINCT ON (chunk_no) {keys}, sum(c) OVER (PARTITION BY chunk_no)
  FROM r ORDER BY chunk_no, {", ".join(f"{key} DESC" for key in keys.split(", "))}
"""  # noqa: S608 - composed only from this module's constant SQL fragments
    params = _params(batch_slice, policy, chunk=chunk_patients, **_bound("after", after))
    with tenant_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    chunks = []
    previous = after
    for *upto, patients in rows:
        chunks.append(PlannedChunk(rule_index, previous, tuple(upto), int(patients)))
        previous = tuple(upto)
    return chunks


def block_pairs(
    rule_index: int,
    *,
    after: Key | None,
    upto: Key,
    batch_slice: BatchSlice,
    policy: PlaceholderPolicy,
    loose: bool = False,
) -> list[tuple[UUID, UUID]]:
    """Pairs (low id, high id) of rule `rule_index` with keys in (after, upto], one statement.

    Leaves out pairs an earlier rule produces and pairs a steward already decided. `loose`
    drops the rules' pair conditions (keys only): training wants non-matches among its
    pairs too, which the tight conditions mostly remove.
    """
    rule = BLOCKING_RULES[rule_index]
    keys_equal = " AND ".join(f"x.{_ALIASES[c]} = y.{_ALIASES[c]}" for c in rule.columns)
    earlier = "".join(
        f"\n   AND NOT coalesce(({_pair_condition(previous, loose=loose)}), false)"
        for previous in BLOCKING_RULES[:rule_index]
    )
    blocked = _BLOCKED.format(range=_range(rule, after=after is not None, upto=True))
    sql = f"""
WITH b AS MATERIALIZED (SELECT * FROM ({blocked}) r WHERE {rule.eligible.format(b="r")})
SELECT x.pid, y.pid
  FROM b x JOIN b y ON {keys_equal} AND x.pid < y.pid
 WHERE ({"TRUE" if loose else rule.pair}){earlier}
   AND NOT EXISTS (SELECT 1 FROM mpi_matchdecision d
                    WHERE d.patient_low_id = x.pid AND d.patient_high_id = y.pid)
"""  # noqa: S608 - composed only from this module's constant SQL fragments
    with tenant_cursor() as cursor:
        cursor.execute(
            sql, _params(batch_slice, policy, **_bound("after", after), **_bound("upto", upto))
        )
        return [(low, high) for low, high in cursor.fetchall()]


def _pair_condition(rule: BlockingRule, *, loose: bool) -> str:
    """Whether rule `rule` produces the pair x, y (both eligible, same key, its condition)."""
    keys_equal = " AND ".join(f"x.{_ALIASES[c]} = y.{_ALIASES[c]}" for c in rule.columns)
    return (
        f"{rule.eligible.format(b='x')} AND {rule.eligible.format(b='y')}"
        f" AND {keys_equal} AND {'TRUE' if loose else rule.pair}"
    )
