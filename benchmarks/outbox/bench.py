"""`make bench-outbox`: outbox throughput and lag, next to the raw ceiling of the same machine.

Three measurements in one run, on a scratch database and a private loopback Redis (both made
here and removed afterwards; nothing else on the machine is touched):

1. **Raw ceiling** — bare psycopg, no Django: `UPDATE … WHERE id IN (SELECT … ORDER BY id
   LIMIT 500 FOR UPDATE SKIP LOCKED) RETURNING …` into pipelined XADD of the payload text, as
   the relay's role. No envelopes, no per-shard ordering: the most a drain can do here.
2. **Relay throughput** — the same backlog drained by the real relay (`relay_drain`: shard heads
   locked with SKIP LOCKED, CloudEvents built, pipelined XADD, marked published).
3. **Lag at a steady offered load** — producers write 1,000 events/s into the outbox (tenant
   transactions as the app role, then the real on-commit wake-up) while a real Celery worker
   and beat (the sweep) relay them; lag = the Redis entry's timestamp minus the event's
   `created_at`. Alongside, one process's unthrottled `outbox_enqueue` rate (the Django
   producer's cost, which is not the relay's).

Results go to docs/benchmarks/outbox-<date>.{md,json}. Bounded: about two minutes.
"""

# ruff: noqa: PLC0415 - Django and the project are imported only once the environment points
# at the scratch database and the private Redis.

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
BACKLOG = 50_000
SHARDS = 10_000
BATCH = 500
OFFERED_RATE = 1_000
OFFERED_SECONDS = 20
PRODUCERS = 6
# A change usually emits more than one event (registered + identifier-added, ...).
LEAN_EVENTS_PER_TRANSACTION = 2
ROUNDS = 3  # raw and relay alternate; the median of each is reported


def _with_db(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def scratch_database(owner_url: str) -> Any:
    """A fresh database migrated by the owner role; dropped afterwards."""
    import psycopg

    name = f"regsvc_bench_{os.getpid()}"
    admin = _with_db(owner_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
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
        with psycopg.connect(admin, autocommit=True) as conn:
            for _ in range(100):
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]
                ).fetchone()
                left = row[0] if row else 0
                if not left:
                    break
                time.sleep(0.1)
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


@contextmanager
def private_redis() -> Any:
    """A redis-server on a free loopback port, no persistence; stopped afterwards."""
    import redis

    port = _free_port()
    directory = tempfile.mkdtemp(prefix="bench-redis-")
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is needed for the benchmark")
    process = subprocess.Popen(  # noqa: S603 - the machine's redis-server, fixed arguments
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            directory,
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


FILL_SQL = """
INSERT INTO outbox_outboxevent
    (tenant_id, event_id, event_type, schema_version, aggregate_type, aggregate_id, shard_key,
     payload, headers, status, created_at, scheduled_at, attempts, last_error)
SELECT %(tenant)s::uuid, gen_random_uuid(), 'patient.updated', 1, 'patient', p.id,
       'patient:' || p.id,
       jsonb_build_object(
           'tenant_id', %(tenant)s::text, 'patient_id', p.id, 'version', g / %(shards)s + 1,
           'changed_fields', jsonb_build_array('name', 'telecom'), 'occurred_at', to_json(now())),
       jsonb_build_object(
           'traceparent', '00-' || md5(g::text) || '-' || left(md5((g + 1)::text), 16) || '-01',
           'requestid', left(md5(g::text), 32)),
       'pending', now(), now(), 0, ''
  FROM generate_series(0, %(n)s - 1) g,
       LATERAL (SELECT md5((g %% %(shards)s)::text)::uuid::text AS id) p
"""

RAW_DRAIN_SQL = """
UPDATE outbox_outboxevent SET status = 'published', published_at = now()
 WHERE id IN (SELECT id FROM outbox_outboxevent WHERE status = 'pending'
               ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
RETURNING id, event_type, payload::text
"""


def fill(owner_url: str, tenant_id: str, n: int) -> None:
    """The same backlog for both drains: `n` patient.updated events over SHARDS patients."""
    import psycopg

    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("TRUNCATE outbox_outboxevent")
        conn.execute(FILL_SQL, {"tenant": tenant_id, "n": n, "shards": SHARDS})
        conn.execute("VACUUM ANALYZE outbox_outboxevent")


def raw_ceiling(relay_url: str, bus_url: str) -> dict[str, float]:
    """Bare SKIP LOCKED drain into pipelined XADD, as the relay role, no Django."""
    import psycopg
    import redis

    client = redis.Redis.from_url(bus_url)
    drained = 0
    started = time.perf_counter()
    with psycopg.connect(relay_url) as conn:
        while True:
            with conn.transaction():
                rows = conn.execute(RAW_DRAIN_SQL, [BATCH]).fetchall()
                if not rows:
                    break
                pipe = client.pipeline(transaction=False)
                for row_id, event_type, payload in rows:
                    pipe.xadd(f"raw.{event_type.split('.')[0]}", {"id": row_id, "data": payload})
                pipe.execute()
            drained += len(rows)
    elapsed = time.perf_counter() - started
    client.close()
    return {
        "events": drained,
        "seconds": round(elapsed, 3),
        "events_per_second": round(drained / elapsed),
    }


def relay_throughput() -> dict[str, float]:
    """The real relay draining the same backlog."""
    from outbox.relaydb import close_all_relay_connections
    from outbox.services.relay import relay_drain

    started = time.perf_counter()
    result = relay_drain(batch_size=BATCH, time_budget=600)
    elapsed = time.perf_counter() - started
    close_all_relay_connections()
    return {
        "events": result.published,
        "batches": result.batches,
        "seconds": round(elapsed, 3),
        "events_per_second": round(result.published / elapsed),
    }


LEAN_INSERT_SQL = """
INSERT INTO outbox_outboxevent
    (tenant_id, event_id, event_type, schema_version, aggregate_type, aggregate_id, shard_key,
     payload, headers, status, created_at, scheduled_at, attempts, last_error)
VALUES (%s, %s, 'patient.updated', 1, 'patient', %s, %s, %s, %s, 'pending', now(), now(), 0, '')
"""


def produce(tenant_id: str, rate: float, seconds: float, mode: str) -> dict[str, float]:
    """Enqueue at `rate` events/s for `seconds` in tenant transactions.

    `django`: through `outbox_enqueue` (schema validation, ORM, on-commit wake-up), one event
    per transaction. `lean`: the same rows in the same tenant transaction as the app role (RLS
    applies), LEAN_EVENTS_PER_TRANSACTION per transaction sent in one pipelined round trip,
    then the real on-commit wake-up (`outbox_wake_relay`) — cheap enough that this 2-core
    machine can offer the target load while it also relays it.
    """
    import psycopg
    from django.conf import settings
    from psycopg.types.json import Jsonb

    from outbox.services.outbox import outbox_enqueue, outbox_wake_relay
    from outbox.tracing import child_traceparent
    from tenancy.db import tenant_scope

    tenant = uuid.UUID(tenant_id)
    patients = [uuid.uuid4() for _ in range(500)]
    conn = psycopg.connect(os.environ["DATABASE_URL"]) if mode == "lean" else None
    interval = 1.0 / rate
    started = time.perf_counter()
    next_at = started
    sent = 0
    while (now := time.perf_counter()) - started < seconds:
        if now < next_at:
            time.sleep(next_at - now)
        patient = patients[sent % len(patients)]
        payload = {
            "patient_id": str(patient),
            "version": sent // len(patients) + 1,
            "changed_fields": ["name"],
        }
        if conn is None:
            with tenant_scope(tenant):
                outbox_enqueue(
                    event_type="patient.updated",
                    aggregate_type="patient",
                    aggregate_id=patient,
                    payload=payload,
                )
        else:
            payload["tenant_id"] = tenant_id
            payload["occurred_at"] = datetime.now(UTC).isoformat()
            with conn.pipeline(), conn.transaction():
                conn.execute("SELECT set_config('app.tenant_id', %s, true)", [tenant_id])
                for _ in range(LEAN_EVENTS_PER_TRANSACTION):
                    conn.execute(
                        LEAN_INSERT_SQL,
                        [
                            tenant,
                            uuid.uuid4(),
                            str(patient),
                            f"patient:{patient}",
                            Jsonb(payload),
                            Jsonb({"traceparent": child_traceparent("")}),
                        ],
                    )
            if settings.OUTBOX_WAKE_ON_COMMIT:
                outbox_wake_relay()
            sent += LEAN_EVENTS_PER_TRANSACTION - 1
            next_at += interval * (LEAN_EVENTS_PER_TRANSACTION - 1)
        sent += 1
        next_at += interval
    elapsed = time.perf_counter() - started
    if conn is not None:
        conn.close()
    return {
        "events": sent,
        "seconds": round(elapsed, 3),
        "events_per_second": round(sent / elapsed),
    }


def _producers(
    tenant_id: str, env: dict[str, str], *, count: int, rate: float, seconds: float, mode: str
) -> list[dict[str, float]]:
    processes = [
        subprocess.Popen(  # noqa: S603 - this script in producer mode
            [
                sys.executable,
                __file__,
                "--produce",
                tenant_id,
                str(rate / count),
                str(seconds),
                mode,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    return [json.loads(p.communicate(timeout=seconds + 60)[0]) for p in processes]


def enqueue_capacity(tenant_id: str, env: dict[str, str]) -> dict[str, float]:
    """How fast one process enqueues through `outbox_enqueue`, unthrottled (no relay running)."""
    [result] = _producers(tenant_id, env, count=1, rate=1e9, seconds=5, mode="django")
    return result


def lag_under_load(
    tenant_id: str, env: dict[str, str], bus_url: str, offered_seconds: float = OFFERED_SECONDS
) -> dict[str, Any]:
    """Producers at OFFERED_RATE; a Celery worker + beat relay; lag from the stream entries."""
    import redis
    from django.conf import settings

    celery = str(Path(sys.executable).with_name("celery"))
    workdir = tempfile.mkdtemp(prefix="bench-celery-")
    with ExitStack() as stack:
        worker = subprocess.Popen(  # noqa: S603 - the project's Celery, fixed arguments
            [
                celery,
                "-A",
                "config",
                "worker",
                "--pool",
                "solo",
                "-l",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stack.callback(_stop, worker)
        beat = subprocess.Popen(  # noqa: S603 - idem
            [celery, "-A", "config", "beat", "-l", "WARNING", "--schedule", f"{workdir}/schedule"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stack.callback(_stop, beat)
        time.sleep(3)  # let the worker connect before the load starts
        stream = f"{settings.OUTBOX_STREAM_PREFIX}patient"
        client = redis.Redis.from_url(bus_url, decode_responses=True)
        client.delete(stream)  # only this phase's events count
        produced = _producers(
            tenant_id, env, count=PRODUCERS, rate=OFFERED_RATE, seconds=offered_seconds, mode="lean"
        )
        total = sum(p["events"] for p in produced)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and int(client.xlen(stream)) < total:  # type: ignore[arg-type]  # sync client
            time.sleep(0.2)
        lags = []
        entries: Any = client.xrange(stream)
        for entry_id, fields in entries:
            event = json.loads(fields["cloudevent"])
            created = datetime.fromisoformat(event["time"]).timestamp() * 1000
            lags.append(int(entry_id.split("-")[0]) - created)
        client.close()
    shutil.rmtree(workdir, ignore_errors=True)
    lags.sort()
    seconds = max(p["seconds"] for p in produced)

    def pct(q: float) -> float:
        return round(lags[min(len(lags) - 1, int(q * len(lags)))], 1) if lags else float("nan")

    return {
        "offered_target_per_second": OFFERED_RATE,
        "offered_seconds": offered_seconds,
        "offered_achieved_per_second": round(total / seconds),
        "produced": total,
        "delivered": len(lags),
        "lag_ms": {
            "p50": pct(0.50),
            "p90": pct(0.90),
            "p99": pct(0.99),
            "max": round(lags[-1], 1) if lags else None,
            "mean": round(statistics.fmean(lags), 1) if lags else None,
        },
    }


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda r: r["events_per_second"])[len(runs) // 2]


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def write_report(results: dict[str, Any]) -> Path:
    """docs/benchmarks/outbox-<date>.md and .json."""
    out = ROOT / "docs" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"outbox-{results['date']}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    raw, relay, lag = results["raw_ceiling"], results["relay"], results["lag"]
    ratio = relay["events_per_second"] / raw["events_per_second"]
    lines = [
        f"# Outbox benchmark — {results['date']}",
        "",
        f"`make bench-outbox` on {results['machine']} (load average at start:",
        f"{results['load_average_at_start']}). Scratch database and private loopback Redis;",
        f"backlog {results['backlog']:,} `patient.updated` events over {SHARDS:,} patients, "
        f"batches of {BATCH};",
        f"raw and relay drains alternate {results['rounds']} times, medians shown (runs: raw "
        f"{raw['runs']},",
        f"relay {relay['runs']} events/s).",
        "",
        "| measurement | result |",
        "|---|---|",
        "| raw ceiling (bare psycopg SKIP LOCKED drain → pipelined XADD, no Django) "
        f"| **{raw['events_per_second']:,} events/s** |",
        "| relay (`relay_drain`: shard heads, CloudEvents, XADD, mark published) "
        f"| **{relay['events_per_second']:,} events/s** ({ratio:.0%} of the ceiling; "
        "target ≥ 50%) |",
        "| producer capacity: `outbox_enqueue` (Django, schema check, on-commit wake-up), "
        f"one process, unthrottled | {lag['enqueue_one_process']['events_per_second']:,} "
        "events/s |",
        f"| offered load ({PRODUCERS} lean producers: {LEAN_EVENTS_PER_TRANSACTION} rows per "
        "tenant transaction as the app role in one round trip, then the real on-commit "
        "wake-up) "
        f"| {lag['offered_achieved_per_second']:,} events/s for {lag['offered_seconds']} s "
        f"(target {OFFERED_RATE:,}) |",
        f"| delivered | {lag['delivered']:,} of {lag['produced']:,} |",
        "| lag p50 / p90 / p99 / max (Celery worker woken on commit + beat sweep) "
        f"| {lag['lag_ms']['p50']} / {lag['lag_ms']['p90']} / **{lag['lag_ms']['p99']}** / "
        f"{lag['lag_ms']['max']} ms (target p99 < 1,000 ms) |",
        "",
        "Lag is the Redis stream entry's timestamp minus the event's `created_at` (set in the",
        "producer's transaction, before its commit): commit, wake-up, Celery dispatch, relay.",
        "One run on a shared machine: compare the ratio more than the absolutes.",
        "",
    ]
    stem.with_suffix(".md").write_text("\n".join(lines))
    return stem.with_suffix(".md")


def _measure(
    owner_url: str,
    relay_url: str,
    dbname: str,
    env: dict[str, str],
    bus_url: str,
    *,
    backlog: int,
    rounds: int,
    offered_seconds: float,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    import psycopg

    from tenancy.services.tenants import tenant_create

    tenant = tenant_create(slug=f"bench-{uuid.uuid4().hex[:6]}", name="Benchmark")
    scratch_owner = _with_db(owner_url, dbname)
    raws, relays = [], []
    for round_number in range(1, rounds + 1):
        fill(scratch_owner, str(tenant.id), backlog)
        raws.append(raw_ceiling(_with_db(relay_url, dbname), bus_url))
        fill(scratch_owner, str(tenant.id), backlog)
        relays.append(relay_throughput())
        print(
            f"round {round_number}: raw ceiling {raws[-1]['events_per_second']:,} events/s, "
            f"relay {relays[-1]['events_per_second']:,} events/s",
            flush=True,
        )
    raw = {**_median(raws), "runs": [r["events_per_second"] for r in raws]}
    relay = {**_median(relays), "runs": [r["events_per_second"] for r in relays]}
    with psycopg.connect(scratch_owner, autocommit=True) as conn:
        conn.execute("TRUNCATE outbox_outboxevent")
    enqueue = enqueue_capacity(str(tenant.id), env)
    print(f"outbox_enqueue, one process: {enqueue['events_per_second']:,} events/s", flush=True)
    with psycopg.connect(scratch_owner, autocommit=True) as conn:
        conn.execute("TRUNCATE outbox_outboxevent")
    print(f"offering {OFFERED_RATE:,} events/s for {offered_seconds} s ...", flush=True)
    lag = lag_under_load(str(tenant.id), env, bus_url, offered_seconds)
    lag["enqueue_one_process"] = enqueue
    print(f"lag p99: {lag['lag_ms']['p99']} ms", flush=True)
    return raw, relay, lag


def run_benchmark(
    *, backlog: int = BACKLOG, rounds: int = ROUNDS, offered_seconds: float = OFFERED_SECONDS
) -> dict[str, Any]:
    """The three measurements on a scratch database and a private Redis; the results dict.

    Importable (`make bench` calls it in a child process): it points this process's environment
    and Django at the scratch database, so run it in a process of its own.
    """
    owner_url = os.environ["DATABASE_OWNER_URL"]
    app_url = os.environ["DATABASE_URL"]
    relay_url = os.environ["DATABASE_RELAY_URL"]
    started = time.monotonic()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    with scratch_database(owner_url) as dbname, private_redis() as bus_url:
        env = {
            **os.environ,
            "REGSVC_ENV": "development",
            "DATABASE_URL": _with_db(app_url, dbname),
            "DATABASE_RELAY_URL": _with_db(relay_url, dbname),
            "REDIS_URL": bus_url,
            "OUTBOX_BUS_URL": bus_url,
            "OUTBOX_STREAM_PREFIX": "bench.",
            "LOG_LEVEL": "WARNING",
        }
        os.environ.update(env)
        _setup_django()
        try:
            raw, relay, lag = _measure(
                owner_url,
                relay_url,
                dbname,
                env,
                bus_url,
                backlog=backlog,
                rounds=rounds,
                offered_seconds=offered_seconds,
            )
        finally:
            from django.db import connections

            from outbox.relaydb import close_all_relay_connections

            connections.close_all()
            close_all_relay_connections()
    return {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{os.cpu_count()} cores, PostgreSQL and Redis on loopback",
        "load_average_at_start": load_at_start,
        "backlog": backlog,
        "rounds": rounds,
        "shards": SHARDS,
        "batch_size": BATCH,
        "raw_ceiling": raw,
        "relay": relay,
        "relay_vs_ceiling": round(relay["events_per_second"] / raw["events_per_second"], 3),
        "lag": lag,
        "wall_seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    """Run the three measurements and write the report."""
    report = write_report(run_benchmark())
    print(f"wrote {report}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--produce", nargs=4, metavar=("TENANT", "RATE", "SECONDS", "MODE"))
    args = parser.parse_args()
    if args.produce:
        _setup_django()
        tenant_arg, rate_arg, seconds_arg, mode_arg = args.produce
        print(json.dumps(produce(tenant_arg, float(rate_arg), float(seconds_arg), mode_arg)))
    else:
        main()
