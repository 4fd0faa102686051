"""Blocking for batch deduplication: which pairs of a tenant's patients are worth scoring.

PostgreSQL does the blocking; Python only scores. Each rule groups active patients (by their
first name row) on a key; the pairs of a rule are the pairs sharing a key that also pass the
rule's pair condition and that no earlier rule produced, so every pair is produced by exactly
one rule. A rule's keys are cut into chunks of whole keys (`plan_key_chunks` for a batch job,
`next_key_chunk` one at a time for training), so a chunk is a key range (after, upto].

Rules (key; extra pair condition; what they find):

- `phonetic_family_year`: Metaphone of family + birth year; the same birth date, or the same
  given-name sound or initial and a birth date one component off (month, day or the two
  swapped); typos, accents, sound-alikes, nicknames.
- `phonetic_given_birth_date`: Metaphone of given + birth year; same birth date; changed or
  mistyped family names.
- `phonetic_names_month_day`: Metaphone of family and of given; same birth month and day and
  a birth year one typing mistake away (a digit, or the last two swapped); mistyped years.

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
    """One blocking rule: its key, eligibility and pair condition."""

    name: str
    # SQL expressions forming the key, in index order (ranges of a chunk are row comparisons
    # on them, so a btree index applies), and their aliases in the blocked relation `b`.
    columns: tuple[str, ...]
    keys: tuple[str, ...]
    # Condition on the blocked row `b` (see _BLOCKED) for taking part in this rule.
    eligible: str
    # Extra condition on a pair `x`, `y` of blocked rows sharing the key.
    pair: str
    # A rule keyed on one of several values of a patient (telecoms): the rows giving one
    # blocked row per value (joined to the first name row `n`), and the condition that the
    # key is the least value x and y share (so a pair sharing two values is produced once).
    # Such a rule must come last: later rules could not tell whether it produced a pair.
    source: str = ""
    first_shared: str = ""


# Telecom values (phone digits, folded e-mail) held by more than this many rows are a
# clinic's or a facility's number rather than a person's: they do not block (a job records
# how many such values it left out, `overshared_telecom_values`).
MAX_TELECOM_SHARING = 20

# A telecom value that can block: a value, not a placeholder (the tenant's list, or one digit
# repeated)...
_TELECOM_VALUE = """{t}.value_normalized <> ''
       AND NOT {t}.value_normalized = ANY(%(telecom_placeholders)s)
       AND {t}.value_normalized !~ '^([0-9])\\1{{3,}}$'"""
# ... held by few rows (checked after the cheaper conditions, slice included).
_TELECOM_FEW = """(SELECT count(*) FROM registration_patienttelecom s
        WHERE s.value_normalized = {v}) <= %(telecom_sharing)s"""
_TELECOM_OK = _TELECOM_VALUE + "\n       AND " + _TELECOM_FEW.replace("{v}", "{t}.value_normalized")

# Some agreement beyond the shared value, so a household's phone does not pair every member.
_TELECOM_PAIR = (
    "(x.yr = y.yr OR x.bd IS NULL OR y.bd IS NULL OR (x.mo = y.mo AND x.dy = y.dy)"
    " OR x.gp = y.gp OR x.gp = y.fp OR x.fp = y.gp)"
)

# One row per blocking telecom value, with the patient's first name row (index lookups).
_TELECOM_ROWS = f"""registration_patienttelecom t
  JOIN LATERAL (SELECT * FROM registration_patientname n0
                 WHERE n0.patient_id = t.patient_id AND n0.position = 0 OFFSET 0) n
    ON {_TELECOM_VALUE.format(t="t")}"""  # noqa: S608 - constant fragments
# The same over the whole tenant (planning): joins, the values' row counts grouped once.
_TELECOM_ALL_ROWS = f"""registration_patienttelecom t
  JOIN registration_patientname n ON n.patient_id = t.patient_id AND n.position = 0
   AND {_TELECOM_VALUE.format(t="t")}
  JOIN (SELECT value_normalized AS sv, count(*) AS shared FROM registration_patienttelecom
         GROUP BY value_normalized) c ON c.sv = t.value_normalized"""  # noqa: S608 - constants
# How many telecom rows hold the blocked row's value (key ranges: one index probe per row).
_TELECOM_SHARED = """(SELECT count(*) FROM registration_patienttelecom s
        WHERE s.value_normalized = t.value_normalized)"""

# The key is the least blocking value that x and y share.
_FIRST_SHARED_TELECOM = f"""x.kv = (
       SELECT min(tx.value_normalized) FROM registration_patienttelecom tx
         JOIN registration_patienttelecom ty ON ty.value_normalized = tx.value_normalized
        WHERE tx.patient_id = x.pid AND ty.patient_id = y.pid
          AND {_TELECOM_OK.format(t="tx")})"""  # noqa: S608 - constant fragments

# Two birth dates of one year at most one mistake apart: the same month, the same day, or the
# day and month swapped.
_DATE_CLOSE = "(x.mo = y.mo OR x.dy = y.dy OR (x.mo = y.dy AND x.dy = y.mo))"

# Two birth years one typing mistake apart: one digit differs, or the last two are swapped
# (1980/1981, 1980/1990, 1989/1998). Other years of namesakes born on the same day and month
# are different people; at a million patients they were most of this rule's pairs.
_YEAR_MISTYPED = """(x.yr / 10 = y.yr / 10
       OR (x.yr / 100 = y.yr / 100 AND mod(x.yr, 10) = mod(y.yr, 10))
       OR (x.yr / 1000 = y.yr / 1000 AND mod(x.yr, 100) = mod(y.yr, 100))
       OR mod(x.yr, 1000) = mod(y.yr, 1000)
       OR (x.yr / 100 = y.yr / 100 AND mod(x.yr, 10) = mod(y.yr / 10, 10)
           AND mod(x.yr / 10, 10) = mod(y.yr, 10)))"""

BLOCKING_RULES: tuple[BlockingRule, ...] = (
    BlockingRule(
        name="phonetic_family_year",
        columns=("n.family_phonetic", "n.birth_year"),
        keys=("fp", "yr"),
        eligible="{b}.fp <> '' AND {b}.yr IS NOT NULL AND NOT {b}.family_placeholder",
        # A second and third piece of evidence, so common surnames do not pair every namesake
        # of a year (pairs would grow with the square of the population): the same birth
        # date, or a given name alike (sound or initial) and a birth date one component off.
        pair=f"(x.bd = y.bd OR ((x.gp = y.gp OR x.gi = y.gi) AND {_DATE_CLOSE}))",
    ),
    BlockingRule(
        name="phonetic_given_birth_date",
        columns=("n.given_phonetic", "n.birth_year"),
        keys=("gp", "yr"),
        eligible="{b}.gp <> '' AND {b}.yr IS NOT NULL AND NOT {b}.given_placeholder",
        pair="x.bd = y.bd",
    ),
    BlockingRule(
        name="phonetic_names_month_day",
        columns=("n.family_phonetic", "n.given_phonetic"),
        keys=("fp", "gp"),
        eligible=(
            "{b}.fp <> '' AND {b}.gp <> '' AND {b}.bd IS NOT NULL"
            " AND NOT {b}.family_placeholder AND NOT {b}.given_placeholder"
        ),
        pair=f"x.mo = y.mo AND x.dy = y.dy AND {_YEAR_MISTYPED}",
    ),
    BlockingRule(
        name="phonetic_names_swapped",
        columns=(
            "least(n.family_phonetic, n.given_phonetic)",
            "greatest(n.family_phonetic, n.given_phonetic)",
        ),
        keys=("lo", "hi"),
        eligible=(
            "{b}.fp <> '' AND {b}.gp <> '' AND {b}.fp <> {b}.gp"
            " AND NOT {b}.family_placeholder AND NOT {b}.given_placeholder"
        ),
        pair=(
            "x.fp = y.gp AND x.gp = y.fp AND (x.yr = y.yr OR x.bd IS NULL OR y.bd IS NULL"
            " OR (x.mo = y.mo AND x.dy = y.dy))"
        ),
    ),
    BlockingRule(
        name="phonetic_names_no_birth_date",
        columns=("n.family_phonetic", "n.given_phonetic"),
        keys=("fp", "gp"),
        eligible=(
            "{b}.fp <> '' AND {b}.gp <> ''"
            " AND NOT {b}.family_placeholder AND NOT {b}.given_placeholder"
        ),
        pair="(x.bd IS NULL OR y.bd IS NULL)",
    ),
    BlockingRule(
        name="telecom",
        columns=("t.value_normalized",),
        keys=("kv",),
        eligible="{b}.shared <= %(telecom_sharing)s",
        pair=_TELECOM_PAIR,
        source=_TELECOM_ROWS,
        first_shared=_FIRST_SHARED_TELECOM,
    ),
)

# The patients a batch looks at: active ones, by their first name row, within the slice
# (one row per value of a multi-valued rule's join).
_BLOCKED = """
SELECT n.patient_id AS pid, n.family_phonetic AS fp, n.given_phonetic AS gp,
       left(n.given_folded, 1) AS gi, n.birth_year AS yr, p.birth_date AS bd,
       extract(month FROM p.birth_date)::int AS mo, extract(day FROM p.birth_date)::int AS dy,
       least(n.family_phonetic, n.given_phonetic) AS lo,
       greatest(n.family_phonetic, n.given_phonetic) AS hi,
       {value} AS kv, {shared} AS shared,
       (n.family_folded = ANY(%(placeholders)s)
        OR (n.given_folded || ' ' || n.family_folded) = ANY(%(placeholders)s))
         AS family_placeholder,
       (n.given_folded = ANY(%(placeholders)s)
        OR (n.given_folded || ' ' || n.family_folded) = ANY(%(placeholders)s))
         AS given_placeholder
  FROM {source}
  {patient}
 WHERE n.position = 0
   AND (%(year_from)s::int IS NULL OR n.birth_year >= %(year_from)s::int)
   AND (%(year_to)s::int IS NULL OR n.birth_year <= %(year_to)s::int)
   {range}
"""


# A key range reaches its patients by one index lookup per row (OFFSET 0 keeps the planner
# from turning this into a scan of every patient for each chunk); the whole tenant (planning)
# by one join.
_PATIENT_BY_KEY = """JOIN LATERAL (SELECT q.birth_date FROM registration_patient q
                 WHERE q.id = n.patient_id AND q.active OFFSET 0) p ON TRUE"""
_PATIENT_ALL = "JOIN registration_patient p ON p.id = n.patient_id AND p.active"


def _blocked(rule: BlockingRule, *, after: bool, upto: bool) -> str:
    """The blocked relation of `rule`, within a key range (none: the whole slice)."""
    whole = not (after or upto)
    if rule.source:
        source = _TELECOM_ALL_ROWS if whole else rule.source
        shared = "c.shared" if whole else _TELECOM_SHARED
    else:
        source, shared = "registration_patientname n", "NULL::bigint"
    return _BLOCKED.format(
        value="t.value_normalized" if rule.source else "NULL::text",
        shared=shared,
        source=source,
        patient=_PATIENT_ALL if whole else _PATIENT_BY_KEY,
        range=_range(rule, after=after, upto=upto),
    )


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
        "telecom_placeholders": sorted(policy.phones | policy.emails),
        "telecom_sharing": MAX_TELECOM_SHARING,
        "year_from": batch_slice.birth_year_from,
        "year_to": batch_slice.birth_year_to,
        **extra,
    }


def _key_columns(rule: BlockingRule) -> str:
    return ", ".join(rule.columns)


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
    return ", ".join(rule.keys)


def overshared_telecom_values(policy: PlaceholderPolicy) -> int:
    """How many telecom values (not placeholders) are too widely shared to block."""
    sql = f"""
SELECT count(*) FROM (SELECT t.value_normalized FROM registration_patienttelecom t
                       WHERE {_TELECOM_VALUE.format(t="t")}
                       GROUP BY t.value_normalized HAVING count(*) > %(telecom_sharing)s) s
"""  # noqa: S608 - constant fragments
    with tenant_cursor() as cursor:
        cursor.execute(sql, _params(BatchSlice(), policy))
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def blocked_patient_count(
    rule: BlockingRule, batch_slice: BatchSlice, policy: PlaceholderPolicy
) -> int:
    """How many patients take part in `rule` (the rule's share of a job's total)."""
    eligible = rule.eligible.format(b="b")
    blocked = _blocked(rule, after=False, upto=False)
    # Composed only from this module's constant SQL fragments.
    sql = f"SELECT count(DISTINCT pid) FROM ({blocked}) b WHERE {eligible}"  # noqa: S608
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
    blocked = _blocked(rule, after=after is not None, upto=False)
    sql = (
        f"SELECT {keys}, count(DISTINCT pid) FROM ({blocked}) b WHERE {rule.eligible.format(b='b')}"  # noqa: S608 - constant fragments
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
    blocked = _blocked(rule, after=after is not None, upto=False)
    sql = f"""
WITH k AS (SELECT {keys}, count(DISTINCT pid) AS c FROM ({blocked}) b
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
    keys_equal = " AND ".join(f"x.{key} = y.{key}" for key in rule.keys)
    earlier = "".join(
        f"\n   AND NOT coalesce(({_pair_condition(previous, loose=loose)}), false)"
        for previous in BLOCKING_RULES[:rule_index]
    )
    blocked = _blocked(rule, after=after is not None, upto=True)
    first_shared = f"\n   AND {rule.first_shared}" if rule.first_shared else ""
    sql = f"""
WITH b AS MATERIALIZED (SELECT * FROM ({blocked}) r WHERE {rule.eligible.format(b="r")})
SELECT DISTINCT x.pid, y.pid
  FROM b x JOIN b y ON {keys_equal} AND x.pid < y.pid
 WHERE ({"TRUE" if loose else rule.pair}){first_shared}{earlier}
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
    if rule.source:
        raise ValueError(f"Rule {rule.name} is keyed on several values and must come last")
    keys_equal = " AND ".join(f"x.{key} = y.{key}" for key in rule.keys)
    return (
        f"{rule.eligible.format(b='x')} AND {rule.eligible.format(b='y')}"
        f" AND {keys_equal} AND {'TRUE' if loose else rule.pair}"
    )
