"""Databases of `make bench`: a loaded template kept between runs, and a throw-away copy per run.

Loading 100k (or 1M) synthetic patients is the slowest step, so the loaded database is kept as
`<db>_bsvc_<N>` with a marker (COMMENT ON DATABASE) naming a fingerprint of everything that
shapes its content: the size, seed and duplicate rate, the migrations, the synthetic generator,
the bulk loader and the request generator. A run reuses it only when the marker matches, and
never measures on it directly: each run works on `CREATE DATABASE … TEMPLATE` (a file copy),
dropped afterwards, so rows written by one run never leak into the next.
"""

import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
FINGERPRINTED = (
    "*/migrations/*.py",
    "registration/synthetic/*.py",
    "registration/services/bulk.py",
    "registration/services/search_keys.py",
    "registration/services/synthetic.py",
    "registration/management/commands/patients_generate.py",
    "benchmarks/service/data.py",
)


def with_db(url: str, name: str) -> str:
    """The same server and role, another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def db_name(url: str) -> str:
    """The database a URL points at."""
    return urlsplit(url).path.lstrip("/")


def fingerprint(*, size: int, seed: int, duplicate_rate: float) -> str:
    """A digest of the parameters and the sources that decide what a loaded template holds."""
    digest = hashlib.sha256(f"{size}:{seed}:{duplicate_rate}".encode())
    for pattern in FINGERPRINTED:
        for path in sorted(ROOT.glob(pattern)):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def template_marker(owner_url: str, name: str) -> dict[str, object] | None:
    """The marker of a kept template, or None when it is missing or unmarked."""
    with psycopg.connect(with_db(owner_url, "postgres"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [name],
        ).fetchone()
    if row is None or not row[0]:
        return None
    try:
        marker = json.loads(row[0])
    except ValueError:
        return None
    return marker if isinstance(marker, dict) else None


def mark_template(owner_url: str, name: str, marker: dict[str, object]) -> None:
    """Record what a freshly loaded template holds."""
    with psycopg.connect(with_db(owner_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(json.dumps(marker, sort_keys=True))
            )
        )


def _drop(conn: psycopg.Connection[tuple[object, ...]], name: str) -> None:
    for _ in range(100):
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]
        ).fetchone()
        if not row or not row[0]:
            break
        time.sleep(0.1)
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def recreate(owner_url: str, name: str) -> None:
    """Drop `name` if it exists and create it empty, owned by the owner role."""
    with psycopg.connect(with_db(owner_url, "postgres"), autocommit=True) as conn:
        _drop(conn, name)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@contextmanager
def copy_of(owner_url: str, template: str) -> Iterator[str]:
    """A throw-away copy of the loaded template for one run; dropped afterwards."""
    name = f"{template}_run{os.getpid()}"[:63]
    with psycopg.connect(with_db(owner_url, "postgres"), autocommit=True) as conn:
        _drop(conn, name)
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    try:
        yield name
    finally:
        with psycopg.connect(with_db(owner_url, "postgres"), autocommit=True) as conn:
            _drop(conn, name)


def server_version(owner_url: str) -> str:
    """PostgreSQL's version string (short)."""
    with psycopg.connect(with_db(owner_url, "postgres"), autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"
