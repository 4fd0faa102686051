"""Test database wiring: migrate as the owner role, then run every test as the app role.

A suite that connects as a superuser or the table owner proves nothing about row-level
security, so after migrating the default connection is switched to the app role (no
superuser, no BYPASSRLS). Tests that need real commits (several connections, Celery workers,
on-commit hooks) use `committed_db`, which truncates through the owner role afterwards.
"""

import os
import time
from collections.abc import Iterator
from typing import Any

import dj_database_url
import psycopg
import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from psycopg import sql

KEPT_TABLES = {"django_migrations", "django_content_type", "auth_permission"}


def _conninfo(parsed: Any, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(
        host=parsed.get("HOST") or "127.0.0.1",
        port=str(parsed.get("PORT") or 5432),
        user=parsed["USER"],
        password=parsed.get("PASSWORD") or None,
        dbname=dbname,
    )


OWNER = dj_database_url.parse(settings.DATABASE_OWNER_URL)
RELAY = dj_database_url.parse(settings.OUTBOX_RELAY_DATABASE_URL)
# Under pytest-xdist (`make test` runs the suite on parallel workers) each worker has its own
# test database and its own Redis database, so workers never see each other's rows, streams,
# Celery messages or flushes. Run alone, the suite uses `<db>_test` and the Redis db as given.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
TEST_DB_NAME = "_".join(
    part for part in (settings.DATABASES["default"]["NAME"], "test", XDIST_WORKER) if part
)


def worker_redis_url(url: str, worker: str) -> str:
    """The Redis URL of an xdist worker: worker gwN counts down N databases from the given one
    (so `…/15` gives gw0 15, gw1 14, …); unchanged outside xdist."""
    if not worker:
        return url
    prefix, _, database = url.rpartition("/")
    number = int(database or 0) - int(worker.removeprefix("gw"))
    if number < 0:
        raise pytest.UsageError(f"too many xdist workers for the Redis database of {prefix}/")
    return f"{prefix}/{number}"


def _isolate_worker_redis() -> None:
    given = settings.REDIS_URL
    mine = worker_redis_url(given, XDIST_WORKER)
    if mine == given:
        return
    from config.celery import app

    settings.REDIS_URL = settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = mine
    if given == settings.OUTBOX_BUS_URL:
        settings.OUTBOX_BUS_URL = mine
    app.conf.update(broker_url=mine, result_backend=mine)


_isolate_worker_redis()


def owner_conninfo(dbname: str = TEST_DB_NAME) -> str:
    """Connection string of the owner role (migrations, truncation, catalog checks)."""
    return _conninfo(OWNER, dbname)


def _switch_default(**changes: Any) -> None:
    connections["default"].close()
    connections["default"].settings_dict.update(changes)


def _drop_test_database() -> None:
    """Drop the test database once the backends of closed connections have exited.

    The owner may not terminate the app role's backends (that takes pg_signal_backend), and a
    backend lingers for a moment after its client closed, so wait for it rather than force.
    """
    with psycopg.connect(owner_conninfo("postgres"), autocommit=True) as conn:
        for _ in range(100):
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [TEST_DB_NAME]
            ).fetchone()
            if row is None or row[0] == 0:
                break
            time.sleep(0.1)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(TEST_DB_NAME)))


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker: Any) -> Iterator[None]:
    """Create a fresh test database, migrate it as owner, hand it to the app role."""
    app_role = {
        "USER": connections["default"].settings_dict["USER"],
        "PASSWORD": connections["default"].settings_dict.get("PASSWORD", ""),
    }
    _drop_test_database()
    with psycopg.connect(owner_conninfo("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEST_DB_NAME)))
    with django_db_blocker.unblock():
        _switch_default(NAME=TEST_DB_NAME, USER=OWNER["USER"], PASSWORD=OWNER.get("PASSWORD", ""))
        call_command("migrate", verbosity=0)
        _switch_default(**app_role)
    # The outbox relay connects with its own role (outside Django's connections): same test DB.
    settings.OUTBOX_RELAY_DATABASE_URL = relay_conninfo()
    yield
    with django_db_blocker.unblock():
        connections.close_all()
    _close_relay_connections()
    _drop_test_database()


def truncate_all_tables() -> None:
    """Empty every table but Django's bookkeeping, as the owner (the app may not TRUNCATE)."""
    with psycopg.connect(owner_conninfo(), autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
            if row[0] not in KEPT_TABLES
        ]
        if tables:
            conn.execute(
                sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                    sql.SQL(", ").join(sql.Identifier(t) for t in tables)
                )
            )


@pytest.fixture(scope="session", autouse=True)
def portrait_test_key() -> Iterator[None]:
    """A random portrait key-encryption key when the environment configures none (the suite
    never depends on, or prints, a real one; the portrait tests set their own keys too)."""
    if settings.PORTRAIT_KEYS:
        yield
        return
    settings.PORTRAIT_KEYS = {"test": os.urandom(32)}
    settings.PORTRAIT_ACTIVE_KEY_ID = "test"
    yield


@pytest.fixture
def committed_db(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Database access with real commits; every table is emptied afterwards."""
    with django_db_blocker.unblock():
        try:
            yield
        finally:
            connections.close_all()
            truncate_all_tables()


@pytest.fixture
def owner_connection(django_db_setup: None) -> Iterator[psycopg.Connection[Any]]:
    """A connection as the migration owner (bypasses RLS) to see what really is stored."""
    with psycopg.connect(owner_conninfo(), autocommit=True) as conn:
        yield conn


@pytest.fixture
def celery_worker(committed_db: None) -> Iterator[Any]:
    """A real Celery worker (solo pool, in a thread) on the real Redis broker."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    app.conf.task_always_eager = False
    # The test Redis database is this suite's own: start without messages of an earlier run.
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20) as worker:
        yield worker
        # The worker thread keeps its database connection between tasks (CELERY_DB_REUSE_MAX);
        # close it from inside that thread so the test database can be dropped afterwards.
        app.send_task("tests.close_worker_connections").get(timeout=20)


def _register_worker_cleanup_task() -> None:
    from config.celery import app

    @app.task(name="tests.close_worker_connections")
    def close_worker_connections() -> None:
        connections.close_all()


_register_worker_cleanup_task()


def relay_conninfo() -> str:
    """Connection string of the outbox relay's role (BYPASSRLS, outbox grants only)."""
    return _conninfo(RELAY, TEST_DB_NAME)


def _close_relay_connections() -> None:
    from outbox.relaydb import close_all_relay_connections

    close_all_relay_connections()


@pytest.fixture
def relay_db(committed_db: None) -> Iterator[str]:
    """Committed database access for tests that run the outbox relay.

    The relay holds a psycopg connection per thread outside Django's connections (as its own
    role, pointed at the test database by `django_db_setup`); they are all closed afterwards so
    the test database can be truncated and dropped.
    """
    try:
        yield settings.OUTBOX_RELAY_DATABASE_URL
    finally:
        _close_relay_connections()
