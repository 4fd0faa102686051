"""`make bench-mpi`: quality and speed of batch deduplication and online matching, with
Splink (DuckDB) on the same records as the peer, in one run.

For each size in BENCH_MPI_SIZES (default 10000,100000; add 1000000 for a million):

1. Load N synthetic patients with `patients_generate` and its truth file (which records are
   one person) into a benchmark database (scratch, or kept with `--keep`); VACUUM ANALYZE;
   refresh the name frequencies.
2. Batch: BENCH_MPI_RUNNERS (default 2) runner processes run `batch_job_run` on one job over
   the whole tenant, sharing its chunks as that many Celery worker processes would; wall
   time, pairs scored, pairs/s and the largest runner's peak RSS. Precision/recall/F1 of the
   pairs it graded PROBABLE or better (and POSSIBLE or better) against every true pair.
3. Blocking: every pair the rules produce (SQL only): pairs completeness (true pairs
   blocked / true pairs) and reduction ratio (1 - blocked / all pairs).
4. Online: `match_patient` for a sample of records (their own record excluded); P/R/F1 of
   PROBABLE-or-better candidates over the sample's true pairs.
5. Splink 4 (DuckDB backend) in its own virtualenv (.local/bench-venv from
   requirements/bench-lock.txt, created on demand) on the same records exported to CSV, with
   a DuckDB memory limit, its temp files in the system temp directory (outside the checkout,
   at most BENCH_MPI_SPLINK_TEMP_SIZE, 20GB) and a time cap; P/R/F1 of its pairs
   with match probability >= 0.5. If it does not finish, the report says so.

Writes docs/benchmarks/<date>-mpi.{md,json} (machine, versions, commit). Not in `make test`.
"""

# ruff: noqa: PLC0415, S603, S607 - Django loads once the environment points at the benchmark
# database; subprocesses run this repository's own scripts and git.

import argparse
import csv
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from benchmarks.mpi.online import _prepare, _with_db, benchmark_database  # noqa: E402

LOCAL = ROOT / ".local"
BENCH_VENV = LOCAL / "bench-venv"
SPLINK_TIME_CAP = int(os.environ.get("BENCH_MPI_SPLINK_SECONDS", "900"))
SPLINK_MEMORY = os.environ.get("BENCH_MPI_SPLINK_MEMORY", "4GB")
# DuckDB spills what does not fit in memory; at a million records it filled a 72 GB disk.
SPLINK_TEMP_SIZE = os.environ.get("BENCH_MPI_SPLINK_TEMP_SIZE", "20GB")
ONLINE_QUERIES = 300
# Batch runners (processes) sharing the job, as MPI_BATCH_RUNNERS Celery tasks would.
RUNNERS = int(os.environ.get("BENCH_MPI_RUNNERS", "2"))

EXPORT_SQL = """
SELECT p.id, coalesce(n.given[1], ''), n.family, coalesce(p.birth_date::text, ''), p.gender,
       coalesce((SELECT a.postal_code FROM registration_patientaddress a
                  WHERE a.patient_id = p.id ORDER BY a.id LIMIT 1), ''),
       coalesce((SELECT t.value_normalized FROM registration_patienttelecom t
                  WHERE t.patient_id = p.id AND t.system = 'phone' ORDER BY t.id LIMIT 1), ''),
       coalesce((SELECT t.value_normalized FROM registration_patienttelecom t
                  WHERE t.patient_id = p.id AND t.system = 'email' ORDER BY t.id LIMIT 1), '')
  FROM registration_patient p
  JOIN registration_patientname n ON n.patient_id = p.id AND n.position = 0
 WHERE p.active
"""


def truth_pairs(path: Path) -> tuple[int, set[tuple[str, str]]]:
    """How many records the generator's truth file lists, and every pair that is one person."""
    by_person: dict[str, list[str]] = defaultdict(list)
    records = 0
    with path.open(encoding="utf-8", newline="") as source:
        for row in csv.DictReader(source):
            by_person[row["person_id"]].append(row["record_id"])
            records += 1
    pairs = {tuple(sorted(pair)) for group in by_person.values() for pair in combinations(group, 2)}
    return records, pairs  # type: ignore[return-value]  # sorted pairs of two


def pair_quality(predicted: set[tuple[str, str]], truth: set[tuple[str, str]]) -> dict[str, Any]:
    """Precision, recall and F1 of predicted pairs against the true pairs."""
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "predicted": len(predicted),
        "true_positives": hits,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


def worker(tenant_slug: str) -> None:
    """Child process: run one batch job over the tenant with RUNNERS runner processes (as
    many Celery worker processes would); print its figures as JSON."""
    import django

    django.setup()
    from mpi.models import BatchJob
    from mpi.services.batch import batch_job_request
    from tenancy.db import tenant_scope
    from tenancy.models import Tenant

    tenant = Tenant.objects.get(slug=tenant_slug)
    with tenant_scope(tenant.id):
        job = batch_job_request(actor=None)
    started = time.perf_counter()
    runners = [
        subprocess.Popen(
            [sys.executable, __file__, "--runner", f"{tenant_slug}:{job.id}"],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ,
        )
        for _ in range(RUNNERS)
    ]
    peaks, cpu = [], []
    for runner in runners:
        out, _ = runner.communicate()
        if runner.returncode != 0:
            raise SystemExit(f"a batch runner failed ({runner.returncode})")
        figures = json.loads(out.strip().splitlines()[-1])
        peaks.append(figures["peak_rss_mb"])
        cpu.append(figures["cpu_seconds"])
    seconds = time.perf_counter() - started
    with tenant_scope(tenant.id):
        job = BatchJob.objects.get(id=job.id)
    print(
        json.dumps(
            {
                "status": str(job.status),
                "seconds": round(seconds, 1),
                "runners": RUNNERS,
                "chunks": job.chunks,
                "pairs_scored": job.pairs_scored,
                "pairs_per_second": round(job.pairs_scored / seconds, 1),
                "proposals": job.proposals,
                "model_version": job.model_version,
                # The largest runner's peak (each runner is its own process).
                "peak_rss_mb": max(peaks),
                # CPU the runners used (Python side; PostgreSQL's share is not in it): on a
                # shared machine a steadier measure of the work than the wall time.
                "runner_cpu_seconds": round(sum(cpu), 1),
            }
        )
    )


def runner(tenant_job: str) -> None:
    """Grandchild process: one runner of the job (`batch_job_run`); print its peak RSS."""
    import django

    django.setup()
    from mpi.services.batch import batch_job_run
    from tenancy.models import Tenant

    slug, job_id = tenant_job.split(":")
    tenant = Tenant.objects.get(slug=slug)
    batch_job_run(tenant_id=tenant.id, job_id=UUID(job_id))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "peak_rss_mb": usage.ru_maxrss // 1024,
                "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            }
        )
    )


def _ensure_bench_venv() -> Path:
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", "requirements/bench-lock.txt"],
            cwd=ROOT,
            check=True,
        )
    return python


def splink_run(records_csv: Path, truth: set[tuple[str, str]], size: int) -> dict[str, Any]:
    """Splink (DuckDB) in the bench virtualenv on exported records, scored against the truth."""
    python = _ensure_bench_venv()
    pairs_csv = records_csv.with_name(f"splink-pairs-{size}.csv")
    limits = f"DuckDB memory limit {SPLINK_MEMORY}, temp files at most {SPLINK_TEMP_SIZE}"
    # Spilled data goes to the system's temp directory, outside the checkout, removed after.
    with tempfile.TemporaryDirectory(prefix="regsvc-splink-") as temp_dir:
        command = [
            str(python),
            str(ROOT / "benchmarks" / "mpi" / "splink_peer.py"),
            str(records_csv),
            str(pairs_csv),
            "--memory-limit",
            SPLINK_MEMORY,
            "--temp-dir",
            temp_dir,
            "--max-temp-size",
            SPLINK_TEMP_SIZE,
        ]
        started = time.perf_counter()
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=SPLINK_TIME_CAP, check=False
            )
        except subprocess.TimeoutExpired:
            return {
                "finished": False,
                "reason": f"did not finish within {SPLINK_TIME_CAP} s ({limits})",
            }
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            # The report is committed: no path of this machine in it.
            last = last.replace(temp_dir, "<temp>").replace(str(ROOT), ".")
            return {
                "finished": False,
                "reason": f"failed after {time.perf_counter() - started:.0f} s ({limits}): {last}",
            }
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    predicted = set()
    with pairs_csv.open(encoding="utf-8", newline="") as source:
        for row in csv.DictReader(source):
            low, high = sorted((row["unique_id_l"], row["unique_id_r"]))
            predicted.add((low, high))
    return {
        "finished": True,
        "wall_seconds": round(time.perf_counter() - started, 1),
        **figures,
        "memory_limit": SPLINK_MEMORY,
        "temp_size_limit": SPLINK_TEMP_SIZE,
        "quality": pair_quality(predicted, truth),
    }


def batch_measure(tenant_id: UUID, slug: str, truth: set[tuple[str, str]]) -> dict[str, Any]:
    """One whole-tenant batch job in a worker process (`worker`), then the quality of the pairs
    it proposed against the truth: PROBABLE or better, and POSSIBLE or better."""
    from mpi.models import MatchCandidate
    from tenancy.db import tenant_scope

    child = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", slug],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
        cwd=ROOT,
    )
    batch: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    with tenant_scope(tenant_id):
        rows = list(
            MatchCandidate.objects.values_list("patient_low_id", "patient_high_id", "grade")
        )
    probable = {_pair(a, b) for a, b, grade in rows if grade in {"certain", "probable"}}
    possible = {_pair(a, b) for a, b, _ in rows}
    batch["quality_probable_or_better"] = pair_quality(probable, truth)
    batch["quality_possible_or_better"] = pair_quality(possible, truth)
    return batch


def _pair(a: object, b: object) -> tuple[str, str]:
    low, high = sorted((str(a), str(b)))
    return low, high


def export_records(records_csv: Path) -> None:
    """The current tenant's active records as Splink's CSV input (lower-cased, blanks empty)."""
    from tenancy.db import tenant_cursor

    with tenant_cursor() as cursor:
        cursor.execute(EXPORT_SQL)
        with records_csv.open("w", encoding="utf-8", newline="") as target:
            writer = csv.writer(target)
            writer.writerow(
                (
                    "unique_id",
                    "first_name",
                    "surname",
                    "dob",
                    "gender",
                    "postcode",
                    "phone",
                    "email",
                )
            )
            for row in cursor.fetchall():
                writer.writerow(
                    [str(row[0]), *[(value or None) and str(value).lower() for value in row[1:]]]
                )


def run_size(args: argparse.Namespace, size: int, owner_url: str) -> dict[str, Any]:  # noqa: PLR0915 - one scenario, top to bottom
    """Every measurement for one population size (Django set up on the bench database)."""
    from django.core.management import call_command

    from mpi.matching.score import MatchGrade
    from mpi.models import MatchCandidate
    from mpi.selectors.blocking import BLOCKING_RULES, BatchSlice, block_pairs, plan_key_chunks
    from mpi.services.frequencies import name_frequencies_refresh
    from mpi.services.matching import match_patient, placeholder_policy
    from registration.models import Patient
    from registration.services.patients import patient_input_of
    from tenancy.db import tenant_scope
    from tenancy.models import Tenant
    from tenancy.services.tenants import tenant_create

    slug = args.tenant or f"bench-mpi-{size}-{args.seed}"
    truth_path = LOCAL / "bench" / f"mpi-{slug}.csv"
    tenant = Tenant.objects.filter(slug=slug).first() or tenant_create(slug=slug, name=slug)
    with tenant_scope(tenant.id):
        loaded = Patient.objects.count()
    if not loaded:
        truth_path.parent.mkdir(parents=True, exist_ok=True)
        print(f"loading {size:,} patients …", flush=True)
        call_command(
            "patients_generate",
            tenant=slug,
            count=size,
            seed=args.seed,
            duplicate_rate=args.duplicate_rate,
            truth=truth_path,
        )
    records, truth = truth_pairs(truth_path)
    _prepare(owner_url)
    with tenant_scope(tenant.id):
        name_frequencies_refresh(actor=None)

    print("batch …", flush=True)
    with tenant_scope(tenant.id):
        MatchCandidate.objects.all().delete()
    load_average = round(os.getloadavg()[0], 2)
    batch = batch_measure(tenant.id, slug, truth)

    print("blocking …", flush=True)
    blocked: set[tuple[str, str]] = set()
    blocked_by_rule: dict[str, int] = {}
    with tenant_scope(tenant.id):
        policy = placeholder_policy()
        for index, rule in enumerate(BLOCKING_RULES):
            blocked_by_rule[rule.name] = 0
            for chunk in plan_key_chunks(
                index, after=None, chunk_patients=20_000, batch_slice=BatchSlice(), policy=policy
            ):
                for low, high in block_pairs(
                    index,
                    after=chunk.after,
                    upto=chunk.upto,
                    batch_slice=BatchSlice(),
                    policy=policy,
                ):
                    blocked.add(tuple(sorted((str(low), str(high)))))  # type: ignore[arg-type]
                    blocked_by_rule[rule.name] += 1
    all_pairs = records * (records - 1) // 2
    blocking = {
        "pairs": len(blocked),
        "pairs_by_rule": blocked_by_rule,
        "pairs_completeness": round(len(blocked & truth) / len(truth), 4),
        "reduction_ratio": round(1 - len(blocked) / all_pairs, 6),
    }

    print("online …", flush=True)
    partners: dict[str, set[str]] = defaultdict(set)
    for left, right in truth:
        partners[left].add(right)
        partners[right].add(left)
    sampler = random.Random(args.seed)  # noqa: S311 - reproducible sample
    sample = sampler.sample(sorted(partners), min(ONLINE_QUERIES, len(partners)))
    predicted_online: set[tuple[str, str]] = set()
    truth_online: set[tuple[str, str]] = set()
    latencies = []
    with tenant_scope(tenant.id):
        patients = (
            Patient.objects.filter(id__in=[UUID(r) for r in sample])
            .prefetch_related("names", "identifiers", "telecoms", "addresses", "contacts")
            .in_bulk()
        )
        for record in sample:
            data = patient_input_of(patients[UUID(record)])
            began = time.perf_counter()
            result = match_patient(data, exclude_patient_id=UUID(record))
            latencies.append(time.perf_counter() - began)
            for candidate in result.candidates:
                if candidate.grade in {MatchGrade.CERTAIN, MatchGrade.PROBABLE}:
                    predicted_online.add(tuple(sorted((record, str(candidate.patient_id)))))  # type: ignore[arg-type]
            truth_online |= {tuple(sorted((record, other))) for other in partners[record]}  # type: ignore[misc]
    latencies.sort()
    online = {
        "queries": len(sample),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p95_ms": round(latencies[int(len(latencies) * 0.95)] * 1000, 1),
        "quality_probable_or_better": pair_quality(predicted_online, truth_online),
    }

    splink: dict[str, Any] = {"finished": False, "reason": "skipped (--no-splink)"}
    if not args.no_splink:
        print("splink …", flush=True)
        records_csv = LOCAL / "bench" / f"records-{slug}.csv"
        with tenant_scope(tenant.id):
            export_records(records_csv)
        splink = splink_run(records_csv, truth, size)
    return {
        "patients": records,
        "load_average_at_batch": load_average,
        "true_pairs": len(truth),
        "batch": batch,
        "blocking": blocking,
        "online": online,
        "splink": splink,
    }


def _machine() -> dict[str, Any]:
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": commit,
    }


def _markdown(result: dict[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"# MPI batch and online matching vs Splink — {result['date']}",
        "",
        f"Machine: {machine['cpus']} CPUs, {machine['memory_gb']} GB, {machine['platform']}, "
        f"Python {machine['python']}; commit {machine['commit']}. `make bench-mpi` "
        "(benchmarks/mpi/quality.py). Load average (1 min) when each size's batch started: "
        + ", ".join(
            f"{size['patients']:,}: {size.get('load_average_at_batch', '?')}"
            for size in result["sizes"]
        )
        + " (2 CPUs: above 2 means other work shared the machine).",
        "",
        "| patients | engine | precision | recall | F1 | wall (s) | pairs scored | pairs/s | "
        "peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size in result["sizes"]:
        batch, online, splink = size["batch"], size["online"], size["splink"]
        q = batch["quality_probable_or_better"]
        lines.append(
            f"| {size['patients']:,} | ours, batch, {batch.get('runners', 1)} runners "
            f"(PROBABLE+) | {q['precision']:.3f} | "
            f"{q['recall']:.3f} | {q['f1']:.3f} | {batch['seconds']} | {batch['pairs_scored']:,} "
            f"| {batch['pairs_per_second']:,} | {batch['peak_rss_mb']} |"
        )
        q = batch["quality_possible_or_better"]
        lines.append(
            f"| {size['patients']:,} | ours, batch (POSSIBLE+) | {q['precision']:.3f} | "
            f"{q['recall']:.3f} | {q['f1']:.3f} | | | | |"
        )
        q = online["quality_probable_or_better"]
        lines.append(
            f"| {size['patients']:,} | ours, online ({online['queries']} queries, PROBABLE+) | "
            f"{q['precision']:.3f} | {q['recall']:.3f} | {q['f1']:.3f} | p50 {online['p50_ms']} ms,"
            f" p95 {online['p95_ms']} ms | | | |"
        )
        if splink.get("finished"):
            q = splink["quality"]
            lines.append(
                f"| {size['patients']:,} | Splink {splink['splink']} (DuckDB {splink['duckdb']},"
                f" p >= 0.5) | {q['precision']:.3f} | {q['recall']:.3f} | {q['f1']:.3f} | "
                f"{splink['seconds']} | | | {splink['peak_rss_mb']} |"
            )
        else:
            lines.append(
                f"| {size['patients']:,} | Splink | did not finish: {splink['reason']} "
                "| | | | | | |"
            )
    lines += [
        "",
        "| patients | true pairs | blocked pairs | pairs completeness | reduction ratio |",
    ]
    lines.append("|---|---|---|---|---|")
    for size in result["sizes"]:
        blocking = size["blocking"]
        lines.append(
            f"| {size['patients']:,} | {size['true_pairs']:,} | {blocking['pairs']:,} | "
            f"{blocking['pairs_completeness']:.4f} | {blocking['reduction_ratio']:.6f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--runner", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duplicate-rate", type=float, default=0.1)
    parser.add_argument("--keep", action="store_true", help="Keep one database per size.")
    parser.add_argument("--database", help="Use (and keep) this database (one size only).")
    parser.add_argument("--tenant", help="Tenant slug (default bench-mpi-<N>-<seed>).")
    parser.add_argument("--no-splink", action="store_true")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    if args.worker:
        worker(args.worker)
        return
    if args.runner:
        runner(args.runner)
        return
    sizes = [int(s) for s in os.environ.get("BENCH_MPI_SIZES", "10000,100000").split(",") if s]
    owner_url, app_url = os.environ["DATABASE_OWNER_URL"], os.environ["DATABASE_URL"]
    import django

    results: list[dict[str, Any]] = []
    for size in sizes:
        keep = args.database or (f"regsvc_bench_mpi_{size}" if args.keep else None)
        with benchmark_database(owner_url, keep) as name:
            os.environ["DATABASE_URL"] = _with_db(app_url, name)
            os.environ["DATABASE_OWNER_URL"] = _with_db(owner_url, name)
            from django.db import connections

            if not results:
                django.setup()
            connections["default"].settings_dict["NAME"] = name
            connections.close_all()
            try:
                results.append(run_size(args, size, os.environ["DATABASE_OWNER_URL"]))
            finally:
                connections.close_all()
    result = {
        "date": datetime.now(tz=UTC).date().isoformat(),
        "machine": _machine(),
        "sizes": results,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    stem = args.output / f"{result['date']}-mpi"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(_markdown(result), encoding="utf-8")
    print(_markdown(result))


if __name__ == "__main__":
    main()
