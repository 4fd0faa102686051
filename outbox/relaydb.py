"""The relay's own database connection: the one role allowed to read across tenants.

The relay does not use Django's connections: those belong to the app role, which row-level
security confines to one tenant. It keeps one psycopg 3 connection per thread, opened from
`settings.OUTBOX_RELAY_DATABASE_URL` (the `regsvc_relay` role: BYPASSRLS, grants on the outbox
table only), and drops it after any error so the next batch starts on a fresh one.
"""

import threading
from typing import Any

import psycopg
from django.conf import settings

APPLICATION_NAME = "regsvc-outbox-relay"

_local = threading.local()
_registry_lock = threading.Lock()
_all_connections: list[psycopg.Connection[Any]] = []


def relay_connection() -> psycopg.Connection[Any]:
    """This thread's relay connection, (re)opened when missing, closed, or pointed elsewhere."""
    url = settings.OUTBOX_RELAY_DATABASE_URL
    conn: psycopg.Connection[Any] | None = getattr(_local, "conn", None)
    if conn is not None and (conn.closed or getattr(_local, "url", None) != url):
        discard_relay_connection()
        conn = None
    if conn is None:
        conn = psycopg.connect(
            url, application_name=APPLICATION_NAME, connect_timeout=10, options="-c TimeZone=UTC"
        )
        _local.conn, _local.url = conn, url
        with _registry_lock:
            _all_connections.append(conn)
    return conn


def discard_relay_connection() -> None:
    """Close this thread's relay connection (after an error, or at shutdown)."""
    conn: psycopg.Connection[Any] | None = getattr(_local, "conn", None)
    _local.conn = None
    if conn is not None:
        _forget(conn)


def close_all_relay_connections() -> None:
    """Close every relay connection this process opened, in any thread (tests, shutdown)."""
    with _registry_lock:
        connections = list(_all_connections)
    for conn in connections:
        _forget(conn)


def _forget(conn: psycopg.Connection[Any]) -> None:
    with _registry_lock:
        if conn in _all_connections:
            _all_connections.remove(conn)
    conn.close()
