"""Every blocking pass is answered from an index, as the app role, under row-level security.

This is the property most easily lost: pg_trgm's `%` is not LEAKPROOF, so on a table under
row-level security PostgreSQL may not use it as an index condition and falls back to scanning
the whole table (the similar-names pass therefore reads through the `mpi_name_search` view).

How, and why not `SET enable_seqscan = off`: switching sequential scans off would only prove
that an index *can* answer a pass, not that the planner picks it. Here 20,000 committed
patients, vacuumed and analyzed as the table owner (VACUUM also merges the GIN pending lists,
as autovacuum does in production), are enough for the planner to prefer each pass's index
unaided; the data is deterministic (ANALYZE samples every row at this size), so the plans
are too. The tables are emptied afterwards. The benchmark (`make bench-mpi-online`) records
the plans at 100k-1M patients in docs/benchmarks/.
"""

import hashlib
import json
from datetime import date

import pytest

from mpi.selectors.candidates import CandidatePass, CandidateQuery, pass_sql
from tenancy.db import tenant_cursor, tenant_scope
from tests.factories import make_tenant

PATIENTS = 20_000

# Distinct names drawn from md5 digests: realistic trigram statistics, no PHI-like data.
_POPULATION_SQL = [
    """
    INSERT INTO registration_patient (id, tenant_id, active, gender, birth_date, language,
        marital_status, confidentiality, preferred_facility, version, sort_name, created_at,
        updated_at, created_by, updated_by, deactivation_reason)
    SELECT md5('p' || g)::uuid, %(tenant)s, true, 'female', date '1955-01-01' + (g * 7919) %% 3650,
           '', '', 'normal', '', 1, '', now(), now(), '', '', ''
      FROM generate_series(1, %(n)s) AS g""",
    """
    INSERT INTO registration_patientname (tenant_id, patient_id, position, use, family, given,
        prefix, suffix, family_folded, given_folded, family_phonetic, given_phonetic, birth_year)
    SELECT %(tenant)s, p.id, 0, 'official', '', '{}', '{}', '{}',
           translate(substr(md5('f' || (g %% 3000)), 1, 8), '0123456789', 'ghijklmnop'),
           translate(substr(md5('g' || (g %% 400)), 1, 6), '0123456789', 'ghijklmnop'),
           upper(substr(md5('f' || (g %% 3000)), 1, 3)), '', extract(year FROM p.birth_date)
      FROM generate_series(1, %(n)s) AS g
      JOIN registration_patient p ON p.id = md5('p' || g)::uuid""",
    """
    INSERT INTO registration_patientidentifier (tenant_id, patient_id, system, value, type_code,
        use, created_at, retired_reason)
    SELECT %(tenant)s, md5('p' || g)::uuid, 'urn:oid:1.2.3', 'MRN' || g, 'MR', 'usual', now(), ''
      FROM generate_series(1, %(n)s) AS g""",
    """
    INSERT INTO registration_patienttelecom (tenant_id, patient_id, system, value, use,
        value_normalized)
    SELECT %(tenant)s, md5('p' || g)::uuid, 'phone', '', 'home', (6170000000 + g)::text
      FROM generate_series(1, %(n)s) AS g""",
]

BIG_TABLES = {
    "registration_patient",
    "registration_patientname",
    "registration_patientidentifier",
    "registration_patienttelecom",
}


def _name(prefix, n, length, *, phonetic=False):
    digest = hashlib.md5(f"{prefix}{n}".encode(), usedforsecurity=False).hexdigest()[:length]
    if phonetic:
        return digest.upper()
    return digest.translate(str.maketrans("0123456789", "ghijklmnop"))


QUERY = CandidateQuery(
    family=_name("f", 17, 8),
    given=_name("g", 17, 6),
    family_phonetic=_name("f", 17, 3, phonetic=True),
    birth_date=date(1960, 5, 7),  # the window 1959-1961 spans two index buckets
    identifiers=(("urn:oid:1.2.3", "MRN17"),),
    telecoms=("6170000017",),
)
CASES = [
    # (pass, query, index sets of which one must be used in full)
    (CandidatePass.IDENTIFIER, QUERY, [{"identifier_unique_active"}, {"identifier_value_idx"}]),
    (CandidatePass.TELECOM, QUERY, [{"telecom_value_idx"}]),
    (
        CandidatePass.SIMILAR_NAMES,
        QUERY,
        [{"name_trgm_1950", "name_trgm_1960", "name_trgm_noyear"}],
    ),
    (
        CandidatePass.SIMILAR_NAMES,
        CandidateQuery(family=QUERY.family, given=QUERY.given),
        [{"name_family_trgm_idx"}, {"name_given_trgm_idx"}],
    ),
    (CandidatePass.SAME_BIRTH_DATE, QUERY, [{"patient_birth_idx"}]),
    (CandidatePass.PHONETIC, QUERY, [{"name_phonetic_year_idx"}]),
]


def _nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def test_every_pass_uses_its_index(committed_db, owner_connection):
    tenant = make_tenant()
    with tenant_scope(tenant.id), tenant_cursor() as cursor:
        for statement in _POPULATION_SQL:
            cursor.execute(statement, {"tenant": tenant.id, "n": PATIENTS})
    for table in sorted(BIG_TABLES):
        # A GIN pending list of 20,000 fresh rows would make every trigram scan look too dear.
        owner_connection.execute(f"VACUUM ANALYZE {table}")
    with tenant_scope(tenant.id), tenant_cursor() as cursor:
        for candidate_pass, query, expected in CASES:
            assert candidate_pass in query.applicable_passes()
            sql = pass_sql(candidate_pass, query)
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", query.parameters(limit=101))
            raw = cursor.fetchone()[0]
            plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
            nodes = list(_nodes(plan))
            used = {node["Index Name"] for node in nodes if "Index Name" in node}
            scanned = {node["Relation Name"] for node in nodes if node["Node Type"] == "Seq Scan"}
            if not any(indexes <= used for indexes in expected) or scanned & BIG_TABLES:
                cursor.execute(f"EXPLAIN {sql}", query.parameters(limit=101))
                text = "\n".join(row[0] for row in cursor.fetchall())
                pytest.fail(f"{candidate_pass} does not use {expected}:\n{text}")
