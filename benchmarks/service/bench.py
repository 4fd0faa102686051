"""`make bench`: the service measured against the machine's own ceilings, side by side, in one run.

The orchestrator (this module's `main`, no Django) does, within a time budget:

1. for each population size (BENCH_SIZES, default 10k and BENCH_SIZE=100k): make sure a loaded
   template database exists (`prepare`, in a child process: migrate as the owner, bulk-load the
   synthetic population, VACUUM ANALYZE, name frequencies, request files) or reuse it when its
   marker matches (benchmarks/service/database.py), then copy it for this run and
2. `measure` it in a child process: gunicorn with production settings on a free loopback port,
   Debian's wrk as the separate load generator (rotate.lua), and the ceilings of the same run;
3. the outbox figures, by the outbox benchmark's own `run_benchmark` in a child process;
4. the report: docs/benchmarks/<date>-service.{md,json} (smoke runs go under .local/bench/).

Knobs (environment): BENCH_SIZE (100000; 1000000 selectable), BENCH_SIZES (comma list, overrides
the two sizes), BENCH_SECONDS (15 per load run), BENCH_WORKERS (2 * cores + 1), BENCH_PROFILE=1
(pyinstrument on the worst ratio), BENCH_OUTBOX=0 (skip the outbox), BENCH_OUTBOX_BACKLOG,
BENCH_OUTBOX_ROUNDS, BENCH_OUTBOX_SECONDS, BENCH_BUDGET_MINUTES (30), BENCH_SMOKE=1.
"""

# ruff: noqa: PLC0415 - Django and the project are imported only in the child processes, once
# their environment points at the right database.

import argparse
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.service import database  # noqa: E402 - after the path is set
from benchmarks.service.figures import (  # noqa: E402
    SERVICE_ENDPOINTS,
    endpoint_of,
    ratios,
    worst_ratio,
)
from benchmarks.service.report import write_report  # noqa: E402
from benchmarks.service.wrk import WrkRun, ensure_wrk, wrk_run  # noqa: E402

SEED = 7
DUPLICATE_RATE = 0.1
CONNECTIONS = (1, 4, 16)
READ_CONNECTIONS = (1, 4)
WORK = ROOT / ".local" / "bench" / "service"
# New people to register: each body is sent once at most (a repeat would be a 409 duplicate).
# 20,000 cover the three registration runs at up to ~400 req/s for 15 s each.
FRESH_PEOPLE = 20_000


def _python_module(*args: str, env: dict[str, str], stdout: Any = None) -> str:
    completed = subprocess.run(  # noqa: S603 - this package's own entry point
        [sys.executable, "-m", "benchmarks.service.bench", *args],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        check=True,
        stdout=subprocess.PIPE if stdout is None else stdout,
        text=True,
    )
    return completed.stdout or ""


def _env_for(app_url: str, owner_url: str, relay_url: str, name: str) -> dict[str, str]:
    return {
        **os.environ,
        "REGSVC_ENV": "development",
        "DATABASE_URL": database.with_db(app_url, name),
        "DATABASE_OWNER_URL": database.with_db(owner_url, name),
        "DATABASE_RELAY_URL": database.with_db(relay_url, name),
        "LOG_LEVEL": "WARNING",
    }


def ensure_template(size: int, urls: tuple[str, str, str], fresh: int) -> tuple[str, Path]:
    """The loaded template for `size` (reused when its marker matches) and its request files."""
    app_url, owner_url, relay_url = urls
    name = f"{database.db_name(owner_url)}_bsvc_{size}"[:63]
    files = WORK / name
    wanted = {
        "fingerprint": database.fingerprint(size=size, seed=SEED, duplicate_rate=DUPLICATE_RATE),
        "size": size,
        "fresh": fresh,
    }
    marker = database.template_marker(owner_url, name)
    if (
        marker is not None
        and all(marker.get(k) == v for k, v in wanted.items())
        and (files / "register.tsv").exists()
        and (files / "truth.csv").exists()
    ):
        print(f"[bench] reusing the loaded template {name} ({marker.get('commit')})", flush=True)
        return name, files
    print(f"[bench] loading {size:,} patients into {name} …", flush=True)
    database.recreate(owner_url, name)
    env = _env_for(app_url, owner_url, relay_url, name)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
        cwd=ROOT,
        env={**env, "DATABASE_URL": env["DATABASE_OWNER_URL"]},
        check=True,
    )
    started = time.monotonic()
    _python_module(
        "prepare",
        "--size",
        str(size),
        "--fresh",
        str(fresh),
        "--files",
        str(files),
        env=env,
        stdout=sys.stderr,
    )
    database.mark_template(
        owner_url,
        name,
        {**wanted, "commit": _commit(), "load_seconds": round(time.monotonic() - started, 1)},
    )
    return name, files


def prepare(size: int, fresh: int, files: Path) -> None:
    """Child: load the population into the template database and write the request files."""
    import django

    django.setup()
    from django.core.management import call_command

    from benchmarks.mpi.online import _prepare as vacuum_analyze
    from benchmarks.service.data import TENANT_SLUG, write_request_files
    from mpi.services.frequencies import name_frequencies_refresh
    from tenancy.db import tenant_scope
    from tenancy.services.tenants import tenant_create

    tenant = tenant_create(slug=TENANT_SLUG, name="Service benchmark")
    files.mkdir(parents=True, exist_ok=True)
    call_command(
        "patients_generate",
        tenant=TENANT_SLUG,
        count=size,
        seed=SEED,
        duplicate_rate=DUPLICATE_RATE,
        truth=files / "truth.csv",  # which records are one person: batch dedupe's F1
    )
    vacuum_analyze(os.environ["DATABASE_OWNER_URL"])
    with tenant_scope(tenant.id):
        name_frequencies_refresh(actor=None)
        # The candidate query's placeholder policy is the tenant's own.
        written = write_request_files(
            files, size=size, seed=SEED, duplicate_rate=DUPLICATE_RATE, samples=2000, fresh=fresh
        )
    print(f"[bench] request files: {written}", file=sys.stderr, flush=True)


FHIR_PATHS = ("/fhir/metadata", "/fhir/Patient", "/fhir/Patient/$match")


def fhir_available() -> dict[str, Any]:
    """FHIR is measured when its real paths resolve in this build (no fake numbers otherwise)."""
    from django.urls import Resolver404, resolve

    missing = []
    for path in FHIR_PATHS:
        try:
            resolve(path)
        except Resolver404:
            missing.append(path)
    if missing:
        return {
            "measured": False,
            "reason": f"the FHIR endpoints (issue 9) are not in this build ({', '.join(missing)} "
            "do not resolve)",
        }
    return {"measured": True}


def batch_dedupe(tenant_id: Any, size: int, files: Path) -> dict[str, Any]:
    """Child: the whole-tenant batch dedupe job on the untouched copy, before any load run.

    `make bench-mpi`'s own code runs it (benchmarks/mpi/quality.py: the batch job service in a
    worker process, wall time, pairs scored, peak worker RSS) and scores the proposed pairs
    against the generator's truth; Splink runs on the same records when its virtualenv
    (.local/bench-venv, made by `make bench-mpi`) exists; this harness never installs it.
    """
    from benchmarks.mpi import quality
    from benchmarks.service.data import TENANT_SLUG
    from mpi.models import MatchCandidate
    from tenancy.db import tenant_scope

    records, truth = quality.truth_pairs(files / "truth.csv")
    with tenant_scope(tenant_id):
        MatchCandidate.objects.all().delete()  # a copy: start from no proposals
    batch = quality.batch_measure(tenant_id, TENANT_SLUG, truth)
    splink: dict[str, Any]
    if (quality.BENCH_VENV / "bin" / "python").exists():
        records_csv = WORK / f"records-{size}.csv"
        with tenant_scope(tenant_id):
            quality.export_records(records_csv)
        splink = quality.splink_run(records_csv, truth, size)
    else:
        splink = {
            "finished": False,
            "reason": "not run: .local/bench-venv does not exist (`make bench-mpi` creates it)",
        }
    print(
        f"[bench] {size:,} batch dedupe: {batch['seconds']} s, {batch['pairs_per_second']} "
        f"pairs/s, peak RSS {batch['peak_rss_mb']} MB, F1 "
        f"{batch['quality_probable_or_better']['f1']}",
        file=sys.stderr,
        flush=True,
    )
    return {
        "measured": True,
        "patients": records,
        "true_pairs": len(truth),
        **batch,
        "splink": splink,
    }


def measure(size: int, files: Path, seconds: float, workers: int, profile: bool) -> dict[str, Any]:
    """Child: everything measured on one copy of the loaded template."""
    import django

    django.setup()
    from benchmarks.outbox.bench import private_redis
    from benchmarks.service import ceilings
    from benchmarks.service.data import TENANT_SLUG
    from benchmarks.service.server import gunicorn, production_env
    from tenancy.db import tenant_scope
    from tenancy.models import Role, Tenant
    from tenancy.services.credentials import api_key_create

    tenant = Tenant.objects.get(slug=TENANT_SLUG)
    with tenant_scope(tenant.id):
        token = api_key_create(actor=None, name="make bench", role=Role.INTEGRATOR).token
    fhir = fhir_available()
    binary = ensure_wrk()
    app_url, owner_url = os.environ["DATABASE_URL"], os.environ["DATABASE_OWNER_URL"]
    log = WORK / "gunicorn.log"
    result: dict[str, Any] = {"registration": {}, "search": {}, "match": {}}
    result["batch_dedupe"] = batch_dedupe(tenant.id, size, files)
    limit = 100_000  # responses per wrk thread: a bound on count besides the duration

    def load(
        url: str, name: str, c: int, run_seconds: float = seconds, **extra: Any
    ) -> dict[str, Any]:
        run = WrkRun(
            url=url,
            requests_file=files / name,
            connections=c,
            seconds=run_seconds,
            max_requests_per_thread=limit,
            **extra,
        )
        figures = wrk_run(run, token, binary)
        print(
            f"[bench] {size:,} {name} c={c}: {figures['rps']} req/s, p95 "
            f"{figures['p95_ms']} ms, failed {figures['non2xx']}",
            file=sys.stderr,
            flush=True,
        )
        return figures

    with private_redis() as redis_url:
        env = production_env(
            app_url=app_url,
            owner_url=owner_url,
            relay_url=os.environ["DATABASE_RELAY_URL"],
            redis_url=redis_url,
        )
        offset = 0
        with gunicorn(env, workers=workers, log=log) as url:
            # Warm caches and every worker's one-off costs (not reported).
            warm = min(seconds, 5.0)
            for name in ("search.tsv", "match.tsv"):
                load(url, name, 2, warm)
            offset += load(url, "register.tsv", 2, warm, offset=offset)["requests"] + 8
            for c in CONNECTIONS:
                full = load(url, "register.tsv", c, offset=offset)
                offset += full["requests"] + 4 * c
                bare = load(url, "register.tsv", c, path_override="/bench/patient-row")
                raw = ceilings.raw_insert(app_url, str(tenant.id), connections=c, seconds=seconds)
                result["registration"][str(c)] = {"full": full, "bare": bare, "raw": raw}
            for c in READ_CONNECTIONS:
                result["search"][str(c)] = load(url, "search.tsv", c)
                result["match"][str(c)] = load(url, "match.tsv", c)
            if fhir["measured"]:
                accept = "application/fhir+json"
                fhir["runs"] = {
                    name: load(url, f"fhir-{name}.tsv", 1, accept=accept)
                    for name in ("read", "search", "match")
                }
        params = json.loads((files / "ceiling.json").read_text(encoding="utf-8"))
        result["ceiling_trigram"] = ceilings.trigram(
            owner_url, str(tenant.id), params, seconds=seconds
        )
        result["fhir"] = fhir
        if profile:
            try:
                result["profile"] = _profile(
                    size,
                    result,
                    files,
                    env=env,
                    token=token,
                    binary=binary,
                    offset=offset,
                    seconds=max(seconds, 10.0),
                )
            except (RuntimeError, OSError, ValueError) as error:  # the figures stand without it
                print(f"[bench] profiling failed: {error}", file=sys.stderr, flush=True)
                result["profile_error"] = str(error)
    return result


def _profile(
    size: int,
    result: dict[str, Any],
    files: Path,
    *,
    env: dict[str, str],
    token: str,
    binary: str,
    offset: int,
    seconds: float,
) -> dict[str, Any] | None:
    """pyinstrument on a one-worker gunicorn while wrk drives the worst-ratio endpoint."""
    from benchmarks.service.server import gunicorn

    # BENCH_PROFILE_ENDPOINT pins the endpoint (to compare runs before and after a fix).
    pinned = os.environ.get("BENCH_PROFILE_ENDPOINT", "")
    if pinned and pinned not in SERVICE_ENDPOINTS:
        raise ValueError(f"BENCH_PROFILE_ENDPOINT must be one of {', '.join(SERVICE_ENDPOINTS)}")
    rows = ratios({"sizes": {str(size): result}})
    worst = worst_ratio([r for r in rows if not pinned or endpoint_of(r.figure) == pinned])
    if worst is None:
        return None
    endpoint = endpoint_of(worst.figure)
    stem = WORK / "profiles" / f"{endpoint}-{size}"
    for suffix in (".html", ".txt", ".json"):
        stem.with_suffix(suffix).unlink(missing_ok=True)  # never report an older run's profile
    request_file = {"registration": "register.tsv", "search": "search.tsv", "match": "match.tsv"}
    with gunicorn(
        {**env, "BENCH_PROFILE_OUT": str(stem)},
        workers=1,
        log=WORK / "gunicorn-profile.log",
        config_module="benchmarks.service.gunicorn_profile",
    ) as url:
        wrk_run(
            WrkRun(
                url=url,
                requests_file=files / request_file[endpoint],
                connections=1,
                seconds=seconds,
                offset=offset,
            ),
            token,
            binary,
        )
    summary_path = stem.with_suffix(".json")
    if not summary_path.exists():
        raise RuntimeError("the profiled worker wrote no profile (no request after its warm-up)")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    top = ", ".join(f"{t['package']} {t['share']:.0%}" for t in summary["top_own_time"][:6])
    cost = (
        f" Per request ({summary['requests']} profiled): {summary['wall_ms_per_request']} ms "
        f"wall, {summary['cpu_ms_per_request']} ms CPU in the worker."
        if summary.get("requests")
        else ""
    )
    return {
        "figure": worst.figure,
        "size": size,
        "ratio": worst.ratio,
        "path": str(stem.with_suffix(".html").relative_to(ROOT)),
        "summary": f"own wall time by package over {summary['seconds']} s of requests "
        f"(psycopg includes waiting for PostgreSQL): {top}.{cost}",
        "top_own_time": summary["top_own_time"],
        **{
            k: summary[k]
            for k in ("requests", "wall_ms_per_request", "cpu_ms_per_request")
            if k in summary
        },
    }


def _commit() -> str:
    completed = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - the repository's git
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (completed.stdout.strip() or "unknown") + ("+dirty" if dirty else "")


def _versions(owner_url: str, wrk_binary: str) -> dict[str, str]:
    import django

    redis_server = subprocess.run(
        ["redis-server", "--version"],  # noqa: S607 - the machine's Redis
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    redis_version = next(
        (w.split("=", 1)[1] for w in redis_server.split() if w.startswith("v=")), "unknown"
    )
    wrk = subprocess.run(  # noqa: S603 - the machine's wrk
        [wrk_binary, "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return {
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgres": database.server_version(owner_url),
        "redis": redis_version,
        "gunicorn": importlib.metadata.version("gunicorn"),
        "wrk": (wrk[0].split(" Copyright")[0] if wrk else "wrk"),
    }


def _memory_gb() -> float:
    pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    return round(pages * size / 2**30, 1)


def _int_env(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def main() -> None:
    """Orchestrate the whole run and write the report."""
    started = time.monotonic()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    urls = (
        os.environ["DATABASE_URL"],
        os.environ["DATABASE_OWNER_URL"],
        os.environ["DATABASE_RELAY_URL"],
    )
    size = _int_env("BENCH_SIZE", 100_000)
    sizes = sorted(
        {int(s) for s in os.environ.get("BENCH_SIZES", "").split(",") if s.strip()}
        or {min(10_000, max(1, size // 10)), size}
    )
    seconds = float(os.environ.get("BENCH_SECONDS") or 15)
    workers = _int_env("BENCH_WORKERS", 2 * (os.cpu_count() or 1) + 1)
    budget = 60 * float(os.environ.get("BENCH_BUDGET_MINUTES") or 30)
    smoke = os.environ.get("BENCH_SMOKE") == "1" or size < 100_000 or seconds < 10
    profile = os.environ.get("BENCH_PROFILE") == "1"
    wrk_binary = ensure_wrk()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).date().isoformat(),
        "smoke": smoke,
        "commit": _commit(),
        "machine": {
            "cores": os.cpu_count(),
            "memory_gb": _memory_gb(),
            "platform": platform.platform(),
            "load_average_at_start": load_at_start,
        },
        "versions": _versions(urls[1], wrk_binary),
        "settings": {"sizes": sizes, "seconds": seconds, "workers": workers, "seed": SEED},
        "sizes": {},
    }
    for index, population in enumerate(sizes):
        if time.monotonic() - started > budget:
            print(f"[bench] budget spent: {population:,} not measured", flush=True)
            break
        template, files = ensure_template(population, urls, FRESH_PEOPLE)
        with database.copy_of(urls[1], template) as run_db:
            env = _env_for(*urls, run_db)
            args = ["measure", "--size", str(population), "--files", str(files)]
            args += ["--seconds", str(seconds), "--workers", str(workers)]
            if profile and index == len(sizes) - 1:
                args.append("--profile")
            measured = json.loads(_python_module(*args, env=env).splitlines()[-1])
        for key in ("profile", "profile_error"):
            if key in measured:
                results[key] = measured.pop(key)
        results["sizes"][str(population)] = measured
    if os.environ.get("BENCH_OUTBOX", "1") != "1":
        results["outbox"] = {"measured": False, "reason": "skipped (BENCH_OUTBOX=0)"}
    elif time.monotonic() - started > budget:
        results["outbox"] = {"measured": False, "reason": "the run's time budget was spent"}
    else:
        args = ["outbox", "--backlog", os.environ.get("BENCH_OUTBOX_BACKLOG") or "50000"]
        args += ["--rounds", os.environ.get("BENCH_OUTBOX_ROUNDS") or "3"]
        args += ["--offered-seconds", os.environ.get("BENCH_OUTBOX_SECONDS") or "20"]
        outbox = json.loads(_python_module(*args, env=dict(os.environ)).splitlines()[-1])
        results["outbox"] = {"measured": True, **outbox}
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    directory = WORK / "reports" if smoke else ROOT / "docs" / "benchmarks"
    path = write_report(results, directory)
    print(path.read_text(encoding="utf-8"))
    print(f"[bench] wrote {path.relative_to(ROOT)} and its .json", flush=True)


def _child() -> None:
    parser = argparse.ArgumentParser(description="make bench child steps")
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--fresh", type=int, required=True)
    p.add_argument("--files", type=Path, required=True)
    m = sub.add_parser("measure")
    m.add_argument("--size", type=int, required=True)
    m.add_argument("--files", type=Path, required=True)
    m.add_argument("--seconds", type=float, required=True)
    m.add_argument("--workers", type=int, required=True)
    m.add_argument("--profile", action="store_true")
    o = sub.add_parser("outbox")
    o.add_argument("--backlog", type=int, required=True)
    o.add_argument("--rounds", type=int, required=True)
    o.add_argument("--offered-seconds", type=float, required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if args.step == "prepare":
        prepare(args.size, args.fresh, args.files)
    elif args.step == "measure":
        out = measure(args.size, args.files, args.seconds, args.workers, args.profile)
        print(json.dumps(out))
    else:
        from benchmarks.outbox.bench import run_benchmark

        outbox = run_benchmark(
            backlog=args.backlog, rounds=args.rounds, offered_seconds=args.offered_seconds
        )
        print(json.dumps(outbox))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        _child()
    else:
        main()
