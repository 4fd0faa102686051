"""`make bench-mpi-online`: online matching latency and recall, with the raw trigram query as
the recall ceiling.

One run, on a scratch database (made here and dropped afterwards) or, with `--database`, on a
database kept between runs so that a million patients are loaded only once:

1. Load N synthetic patients with `manage.py patients_generate` (its truth file says which
   records are one person) into a tenant; VACUUM ANALYZE; refresh the name frequencies.
2. Sample Q records that have a true duplicate. For each, match its stored demographics with
   `match_patient(..., exclude_patient_id=itself)` inside a tenant transaction, as a request
   would: latency p50/p95/p99, and whether its true partners come back (POSSIBLE or better,
   PROBABLE or better) and among the blocking candidates.
3. The ceiling: the raw trigram candidate query of docs/MATCHING.md (either name `%`, birth
   date within a year, unbounded, as the table owner so GIN is usable): its recall and size.
4. EXPLAIN ANALYZE of every pass for a common-name and an ordinary query: indexes used.

Results go to docs/benchmarks/mpi-online-<N>-<date>.{md,json}. Not part of `make test`.
"""

# ruff: noqa: PLC0415 - Django and the project are imported only once the environment points
# at the benchmark database.

import argparse
import csv
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

ROOT = Path(__file__).resolve().parents[2]
WARM_UP = 20
COUNT = 10

CEILING_SQL = """
SELECT DISTINCT n.patient_id
  FROM registration_patientname n
  JOIN registration_patient p ON p.id = n.patient_id
 WHERE n.tenant_id = %(tenant)s AND p.tenant_id = %(tenant)s AND p.active
   AND (n.family_folded %% %(family)s OR n.given_folded %% %(given)s)
   AND p.birth_date BETWEEN %(birth)s::date - 365 AND %(birth)s::date + 365
   AND p.id <> %(exclude)s
"""
TABLES = ("patient", "patientname", "patientidentifier", "patienttelecom", "patientaddress")


def _with_db(url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{dbname}"))


@contextmanager
def benchmark_database(owner_url: str, keep: str | None) -> Iterator[str]:
    """`keep` (created if missing), or a scratch database dropped afterwards; migrated."""
    import psycopg

    name = keep or f"regsvc_bench_mpi_{os.getpid()}"
    admin = _with_db(owner_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        env = {**os.environ, "DATABASE_URL": _with_db(owner_url, name)}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        yield name
    finally:
        if keep is None:
            with psycopg.connect(admin, autocommit=True) as conn:
                for _ in range(100):
                    row = conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]
                    ).fetchone()
                    if not row or not row[0]:
                        break
                    time.sleep(0.1)
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(_percentile(values, 0.5) * 1000, 1),
        "p95": round(_percentile(values, 0.95) * 1000, 1),
        "p99": round(_percentile(values, 0.99) * 1000, 1),
        "max": round(max(values) * 1000, 1),
        "mean": round(statistics.fmean(values) * 1000, 1),
    }


def _load(args: argparse.Namespace, truth: Path) -> Any:
    """The benchmark tenant, loaded with N synthetic patients (once)."""
    from django.core.management import call_command

    from registration.models import Patient
    from tenancy.db import tenant_scope
    from tenancy.models import Tenant
    from tenancy.services.tenants import tenant_create

    tenant = Tenant.objects.filter(slug=args.tenant).first()
    if tenant is None:
        tenant = tenant_create(slug=args.tenant, name=f"MPI online benchmark {args.patients}")
    with tenant_scope(tenant.id):
        loaded = Patient.objects.count()
    if loaded == 0:
        truth.parent.mkdir(parents=True, exist_ok=True)
        print(f"loading {args.patients:,} patients into {args.tenant} …", flush=True)
        call_command(
            "patients_generate",
            tenant=args.tenant,
            count=args.patients,
            seed=args.seed,
            duplicate_rate=args.duplicate_rate,
            truth=truth,
        )
    elif loaded != args.patients or not truth.exists():
        raise SystemExit(
            f"tenant {args.tenant} holds {loaded} patients (wanted {args.patients}) or its "
            f"truth file {truth} is missing: use another --tenant"
        )
    return tenant


def _prepare(owner_url: str) -> None:
    """VACUUM ANALYZE the patient tables as their owner (merges GIN pending lists too)."""
    import psycopg

    with psycopg.connect(owner_url, autocommit=True) as conn:
        for table in TABLES:
            conn.execute(f"VACUUM ANALYZE registration_{table}")


def _truth(path: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    person_of: dict[str, str] = {}
    records: dict[str, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as source:
        for row in csv.DictReader(source):
            person_of[row["record_id"]] = row["person_id"]
            records[row["person_id"]].append(row["record_id"])
    return person_of, records


def _corruptions(args: argparse.Namespace, wanted: set[str]) -> dict[str, tuple[str, ...]]:
    """Corruption codes of the wanted duplicates, regenerated from the seed (same day only)."""
    from registration.synthetic import generate

    found: dict[str, tuple[str, ...]] = {}
    for person in generate(
        args.patients,
        seed=args.seed,
        duplicate_rate=args.duplicate_rate,
        tenant_label=args.tenant,
    ):
        if person.record_id in wanted:
            found[person.record_id] = tuple(person.corruptions)
    return found if len(found) == len(wanted) else {}


def _explain(cursor: Any, query: Any) -> list[dict[str, Any]]:
    """EXPLAIN ANALYZE of every applicable pass: indexes used, seq scans, execution time."""
    from mpi.selectors.candidates import pass_sql

    plans = []
    for candidate_pass in query.applicable_passes():
        cursor.execute(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {pass_sql(candidate_pass, query)}",
            query.parameters(limit=101),
        )
        raw = cursor.fetchone()[0]
        document = (json.loads(raw) if isinstance(raw, str) else raw)[0]
        stack, nodes = [document["Plan"]], []
        while stack:
            node = stack.pop()
            nodes.append(node)
            stack.extend(node.get("Plans", []))
        plans.append(
            {
                "pass": str(candidate_pass),
                "indexes": sorted({n["Index Name"] for n in nodes if "Index Name" in n}),
                "seq_scans": sorted(
                    {n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"}
                ),
                "ms": round(document["Execution Time"], 2),
                "rows": document["Plan"]["Actual Rows"],
            }
        )
    return plans


def run(args: argparse.Namespace, owner_url: str) -> dict[str, Any]:  # noqa: PLR0915 - one scenario, top to bottom
    """Everything after the environment points at the benchmark database."""
    import django

    django.setup()
    import psycopg

    from mpi.matching.score import MatchGrade
    from mpi.selectors.candidates import candidate_query, match_candidates
    from mpi.services.frequencies import name_frequencies_refresh
    from mpi.services.matching import match_patient, placeholder_policy
    from registration.models import Patient
    from registration.services.patients import patient_input_of
    from tenancy.db import tenant_cursor, tenant_scope

    truth_path = ROOT / ".local" / "bench" / f"mpi-online-{args.tenant}.csv"
    started = time.perf_counter()
    tenant = _load(args, truth_path)
    load_seconds = time.perf_counter() - started
    _prepare(owner_url)
    with tenant_scope(tenant.id):
        name_frequencies_refresh(actor=None)

    person_of, records = _truth(truth_path)
    with_partners = sorted(r for r, p in person_of.items() if len(records[p]) > 1)
    sampler = random.Random(args.seed)  # noqa: S311 - a reproducible sample, not a secret
    sample = sampler.sample(with_partners, min(args.queries, len(with_partners)))
    with tenant_scope(tenant.id):
        patients = (
            Patient.objects.filter(id__in=[UUID(r) for r in sample])
            .prefetch_related("names", "identifiers", "telecoms", "addresses", "contacts")
            .in_bulk()
        )
        queries = [(UUID(r), patient_input_of(patients[UUID(r)])) for r in sample]
    policy = placeholder_policy()

    for record_id, data in queries[:WARM_UP]:
        with tenant_scope(tenant.id):
            match_patient(data, count=COUNT, exclude_patient_id=record_id)
    rows: list[dict[str, Any]] = []
    for record_id, data in queries:
        partners = {UUID(r) for r in records[person_of[str(record_id)]]} - {record_id}
        began = time.perf_counter()
        with tenant_scope(tenant.id):
            inner = time.perf_counter()
            result = match_patient(data, count=COUNT, exclude_patient_id=record_id)
            matched = time.perf_counter() - inner
        total = time.perf_counter() - began
        with tenant_scope(tenant.id):
            blocked = match_candidates(candidate_query(data, policy), exclude_patient_id=record_id)
        grades = {c.patient_id: c.grade for c in result.candidates}
        rows.append(
            {
                "record_id": str(record_id),
                "seconds": matched,
                "seconds_with_transaction": total,
                "partners": len(partners),
                "blocked": len(partners & set(blocked.patient_ids)),
                "possible": sum(1 for p in partners if p in grades),
                "probable": sum(
                    1
                    for p in partners
                    if grades.get(p) in {MatchGrade.CERTAIN, MatchGrade.PROBABLE}
                ),
                "returned_probable": sum(
                    1 for g in grades.values() if g in {MatchGrade.CERTAIN, MatchGrade.PROBABLE}
                ),
                "truncated": result.truncated,
                "scored": result.candidates_scored,
                "passes": {str(p): list(blocked.found_by.get(p, ())) for p in partners},
                "has_birth_date": data.birth_date is not None,
            }
        )

    # The ceiling: the raw trigram query, unbounded, as the owner (no RLS, so GIN is usable).
    ceiling_rows: list[dict[str, Any]] = []
    with psycopg.connect(owner_url, autocommit=True) as conn:
        for (record_id, data), row in zip(queries, rows, strict=True):
            query = candidate_query(data, policy)
            partners = {UUID(r) for r in records[person_of[str(record_id)]]} - {record_id}
            if data.birth_date is None or not (query.family and query.given):
                ceiling_rows.append({"applies": False})
                continue
            began = time.perf_counter()
            found = {
                r[0]
                for r in conn.execute(
                    CEILING_SQL,
                    {
                        "tenant": tenant.id,
                        "family": query.family,
                        "given": query.given,
                        "birth": data.birth_date,
                        "exclude": record_id,
                    },
                ).fetchall()
            }
            ceiling_rows.append(
                {
                    "applies": True,
                    "seconds": time.perf_counter() - began,
                    "size": len(found),
                    "found": len(partners & found),
                    "ours": row["blocked"],
                    "partners": len(partners),
                }
            )

    # Plans for a common-name query and an ordinary one.
    by_family = Counter(
        candidate_query(d, policy).family for _, d in queries if d.birth_date is not None
    )
    common = next(
        d for _, d in queries if candidate_query(d, policy).family == by_family.most_common(1)[0][0]
    )
    ordinary = next(d for _, d in queries[len(queries) // 2 :] if d.birth_date is not None)
    with tenant_scope(tenant.id), tenant_cursor() as cursor:
        plans = {
            "common_family_name": _explain(cursor, candidate_query(common, policy)),
            "ordinary": _explain(cursor, candidate_query(ordinary, policy)),
        }

    codes = _corruptions(args, {str(r["record_id"]) for r in rows})
    return _summary(args, rows, ceiling_rows, plans, codes, load_seconds)


def _summary(  # noqa: PLR0917 - the parts of one result
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    ceiling_rows: list[dict[str, Any]],
    plans: dict[str, Any],
    codes: dict[str, tuple[str, ...]],
    load_seconds: float,
) -> dict[str, Any]:
    pairs = sum(r["partners"] for r in rows)
    applied = [c for c in ceiling_rows if c["applies"]]
    only_by: Counter[str] = Counter()
    by_pass: Counter[str] = Counter()
    for row in rows:
        for found_by in row["passes"].values():
            by_pass.update(found_by)
            if len(found_by) == 1:
                only_by[found_by[0]] += 1
    by_code: dict[str, dict[str, int]] = {}
    for row in rows:
        for code in codes.get(row["record_id"], ()):
            entry = by_code.setdefault(code, {"pairs": 0, "blocked": 0, "possible": 0})
            entry["pairs"] += row["partners"]
            entry["blocked"] += row["blocked"]
            entry["possible"] += row["possible"]
    returned = sum(r["returned_probable"] for r in rows)
    return {
        "date": datetime.now(tz=UTC).date().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "patients": args.patients,
        "queries": len(rows),
        "true_pairs": pairs,
        "load_seconds": round(load_seconds, 1),
        "latency_ms": _ms([r["seconds"] for r in rows]),
        "latency_with_transaction_ms": _ms([r["seconds_with_transaction"] for r in rows]),
        "recall": {
            "blocking": round(sum(r["blocked"] for r in rows) / pairs, 4),
            "possible_or_better": round(sum(r["possible"] for r in rows) / pairs, 4),
            "probable_or_better": round(sum(r["probable"] for r in rows) / pairs, 4),
        },
        "precision_probable_or_better": round(
            sum(r["probable"] for r in rows) / returned if returned else 1.0, 4
        ),
        "truncated_share": round(sum(r["truncated"] for r in rows) / len(rows), 4),
        "candidates_scored": {
            "mean": round(statistics.fmean(r["scored"] for r in rows), 1),
            "p95": _percentile([r["scored"] for r in rows], 0.95),
        },
        "ceiling": {
            "queries": len(applied),
            "recall": round(
                sum(c["found"] for c in applied) / max(1, sum(c["partners"] for c in applied)), 4
            ),
            "our_blocking_recall_same_queries": round(
                sum(c["ours"] for c in applied) / max(1, sum(c["partners"] for c in applied)), 4
            ),
            "size": {
                "mean": round(statistics.fmean(c["size"] for c in applied), 1) if applied else 0,
                "p95": _percentile([c["size"] for c in applied], 0.95) if applied else 0,
            },
            "latency_ms": _ms([c["seconds"] for c in applied]) if applied else {},
        },
        "pairs_found_by_pass": dict(by_pass.most_common()),
        "pairs_found_only_by_pass": dict(only_by.most_common()),
        "by_corruption": dict(sorted(by_code.items())),
        "plans": plans,
    }


def _markdown(result: dict[str, Any]) -> str:
    latency, recall, ceiling = result["latency_ms"], result["recall"], result["ceiling"]
    lines = [
        f"# MPI online matching — {result['patients']:,} patients, {result['date']}",
        "",
        f"Machine: {result['machine']['cpus']} CPUs, {result['machine']['platform']}, "
        f"Python {result['machine']['python']}. {result['queries']} queries (records with a "
        f"true duplicate), {result['true_pairs']} true pairs. `benchmarks/mpi/online.py`.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| match_patient p50 / p95 / p99 (ms) | {latency['p50']} / {latency['p95']} / "
        f"{latency['p99']} |",
        f"| … including the tenant transaction (ms, p50 / p95) | "
        f"{result['latency_with_transaction_ms']['p50']} / "
        f"{result['latency_with_transaction_ms']['p95']} |",
        f"| blocking recall (partner among candidates) | {recall['blocking']:.1%} |",
        f"| recall, POSSIBLE or better in the top {COUNT} | {recall['possible_or_better']:.1%} |",
        f"| recall, PROBABLE or better | {recall['probable_or_better']:.1%} |",
        f"| precision of PROBABLE-or-better candidates | "
        f"{result['precision_probable_or_better']:.1%} |",
        f"| candidate bound hit (truncated) | {result['truncated_share']:.1%} of queries |",
        f"| candidates scored, mean / p95 | {result['candidates_scored']['mean']} / "
        f"{result['candidates_scored']['p95']} |",
        f"| ceiling: raw trigram query recall ({ceiling['queries']} queries with birth date "
        f"and both names) | {ceiling['recall']:.1%} (ours on the same: "
        f"{ceiling['our_blocking_recall_same_queries']:.1%}) |",
        f"| ceiling candidate set, mean / p95 size | {ceiling['size']['mean']} / "
        f"{ceiling['size']['p95']} |",
        f"| ceiling query p50 / p95 (ms) | {ceiling['latency_ms'].get('p50')} / "
        f"{ceiling['latency_ms'].get('p95')} |",
        "",
        "Pairs found by pass: "
        + ", ".join(f"{k} {v}" for k, v in result["pairs_found_by_pass"].items())
        + "; only by: "
        + ", ".join(f"{k} {v}" for k, v in result["pairs_found_only_by_pass"].items())
        + ".",
        "",
    ]
    if result["by_corruption"]:
        lines += ["| corruption | pairs | blocked | POSSIBLE+ |", "|---|---|---|---|"]
        for code, entry in result["by_corruption"].items():
            lines.append(
                f"| {code} | {entry['pairs']} | {entry['blocked'] / entry['pairs']:.0%} | "
                f"{entry['possible'] / entry['pairs']:.0%} |"
            )
        lines.append("")
    lines += ["## Plans (EXPLAIN ANALYZE, as the app role)", ""]
    for label, plans in result["plans"].items():
        lines.append(f"- {label}:")
        lines += [
            f"  - {p['pass']}: {', '.join(p['indexes'])}; seq scans: "
            f"{', '.join(p['seq_scans']) or 'none'}; {p['ms']} ms, {p['rows']} rows"
            for p in plans
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse arguments, point the environment at the benchmark database, run, write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--duplicate-rate", type=float, default=0.1)
    parser.add_argument("--database", help="Use (and keep) this database instead of a scratch one.")
    parser.add_argument("--tenant", help="Tenant slug (default bench-online-<N>-<seed>).")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks")
    args = parser.parse_args()
    args.tenant = args.tenant or f"bench-online-{args.patients}-{args.seed}"
    owner_url, app_url = os.environ["DATABASE_OWNER_URL"], os.environ["DATABASE_URL"]
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    with benchmark_database(owner_url, args.database) as name:
        os.environ["DATABASE_URL"] = _with_db(app_url, name)
        os.environ["DATABASE_OWNER_URL"] = _with_db(owner_url, name)
        try:
            result = run(args, os.environ["DATABASE_OWNER_URL"])
        finally:
            from django.db import connections

            connections.close_all()
    args.output.mkdir(parents=True, exist_ok=True)
    stem = args.output / f"mpi-online-{args.patients}-{result['date']}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(_markdown(result), encoding="utf-8")
    print(_markdown(result))


if __name__ == "__main__":
    main()
