"""Ceilings measured in the same run: a raw psycopg insert loop and the raw trigram query.

- Raw insert: `connections` processes, each a loop of one-row INSERTs into registration_patient
  as the app role in a tenant transaction (set_config + INSERT + COMMIT in one pipelined round
  trip), no Django, no HTTP: the most this PostgreSQL does for a row a registration writes.
- Trigram: the online benchmark's raw pg_trgm candidate query (benchmarks/mpi/online.py,
  CEILING_SQL), one connection, as the owner so GIN is usable, over the match sample.
"""

import multiprocessing
import statistics
import time
import uuid
from typing import Any

import psycopg

from benchmarks.mpi.online import CEILING_SQL

RAW_INSERT_SQL = """
INSERT INTO registration_patient (id, tenant_id, active, gender, birth_date, language,
    marital_status, confidentiality, preferred_facility, version, sort_name, created_at,
    updated_at, created_by, updated_by, deactivation_reason)
VALUES (%s, %s, true, 'unknown', NULL, '', '', 'normal', '', 1, '', now(), now(), '', '', '')
"""


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def latency_figures(seconds_each: list[float], wall_seconds: float) -> dict[str, Any]:
    """The same keys as a wrk run: rps and p50/p95/p99 in ms."""
    if not seconds_each:
        return {
            "requests": 0,
            "seconds": wall_seconds,
            "rps": 0.0,
            "p50_ms": 0.0,
            "p95_ms": 0.0,
            "p99_ms": 0.0,
            "max_ms": 0.0,
            "mean_ms": 0.0,
            "non2xx": 0,
            "socket_errors": 0,
        }
    return {
        "requests": len(seconds_each),
        "seconds": round(wall_seconds, 3),
        "rps": round(len(seconds_each) / wall_seconds, 1),
        "p50_ms": round(percentile(seconds_each, 0.50) * 1000, 2),
        "p95_ms": round(percentile(seconds_each, 0.95) * 1000, 2),
        "p99_ms": round(percentile(seconds_each, 0.99) * 1000, 2),
        "max_ms": round(max(seconds_each) * 1000, 2),
        "mean_ms": round(statistics.fmean(seconds_each) * 1000, 2),
        "non2xx": 0,
        "socket_errors": 0,
    }


def _insert_loop(app_url: str, tenant_id: str, seconds: float, limit: int) -> list[float]:
    tenant = uuid.UUID(tenant_id)
    took: list[float] = []
    with psycopg.connect(app_url) as conn:
        ends = time.perf_counter() + seconds
        while time.perf_counter() < ends and (not limit or len(took) < limit):
            began = time.perf_counter()
            with conn.pipeline(), conn.transaction():
                conn.execute("SELECT set_config('app.tenant_id', %s, true)", [tenant_id])
                conn.execute(RAW_INSERT_SQL, [uuid.uuid4(), tenant])
            took.append(time.perf_counter() - began)
    return took


def raw_insert(
    app_url: str, tenant_id: str, *, connections: int, seconds: float, limit: int = 0
) -> dict[str, Any]:
    """The raw insert loop at `connections` concurrent connections (one process each)."""
    context = multiprocessing.get_context("spawn")
    began = time.perf_counter()
    with context.Pool(connections) as pool:
        parts = pool.starmap(_insert_loop, [(app_url, tenant_id, seconds, limit)] * connections)
    wall = time.perf_counter() - began
    took = [t for part in parts for t in part]
    # Throughput over the loops' own time, not the pool's start-up.
    busy = max((sum(part) for part in parts), default=wall)
    return {**latency_figures(took, min(wall, max(busy, 1e-9))), "connections": connections}


def trigram(
    owner_url: str, tenant_id: str, params: list[dict[str, str]], *, seconds: float
) -> dict[str, Any]:
    """The raw trigram candidate query over the sample, one connection, bounded in time."""
    took: list[float] = []
    began = time.perf_counter()
    with psycopg.connect(owner_url, autocommit=True) as conn:
        for _ in range(3):  # warm the cache the same way the endpoints' warm-up does
            for entry in params[:20]:
                conn.execute(CEILING_SQL, {**entry, "tenant": tenant_id}).fetchall()
        began = time.perf_counter()
        for entry in params * 10:
            if time.perf_counter() - began > seconds:
                break
            start = time.perf_counter()
            conn.execute(CEILING_SQL, {**entry, "tenant": tenant_id}).fetchall()
            took.append(time.perf_counter() - start)
    figures = latency_figures(took, time.perf_counter() - began)
    return {**figures, "queries": len(took)}
