"""Shared helpers of the outbox and inbox suites: a private Redis, stream readers, messages.

Tests that take the bus down or freeze it use a private `redis-server` on a free loopback
port, never the machine's shared Redis.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from django.conf import settings

from outbox.envelope import STREAM_FIELD

LICENSING = "licensing.entitlement-changed"
DEATH = "civil-registry.death-notified"


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A throw-away redis-server on a free loopback port that tests may stop, pause, restart."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait until it answers."""
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for the bus-outage tests"
        self.process = subprocess.Popen(  # noqa: S603 - the machine's redis-server, fixed arguments
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        try:
            for _ in range(100):
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        """Stop it (its data is gone: it keeps none on disk)."""
        if self.process is not None:
            self.resume()
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def pause(self) -> None:
        """Freeze it: connections are accepted but nothing is answered."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server go on."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)


@contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    """A started private Redis, stopped afterwards whatever happens."""
    server = PrivateRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def stream_events(client: redis.Redis, stream: str) -> list[dict[str, Any]]:
    """Every CloudEvent in a stream, in stream order."""
    entries: Any = client.xrange(stream)
    events = []
    for _entry_id, fields in entries:
        raw = (
            fields[STREAM_FIELD.encode()]
            if STREAM_FIELD.encode() in fields
            else fields[STREAM_FIELD]
        )
        events.append(json.loads(raw))
    return events


def delete_prefixed_keys(client: redis.Redis, prefix: str) -> None:
    """Remove every key a test created under its own prefix."""
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)


def cloudevent(
    *,
    tenant_id: uuid.UUID | str,
    event_type: str,
    data: dict[str, Any],
    message_id: str | None = None,
    source: str = "urn:test:sender",
    version: int = 1,
    traceparent: str | None = None,
) -> str:
    """A structured-mode CloudEvent as a sender would write it."""
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": message_id or str(uuid.uuid4()),
        "source": source,
        "type": event_type,
        "time": "2026-01-15T09:30:00+00:00",
        "datacontenttype": "application/json",
        "dataschema": f"https://senders.example/{event_type}.v{version}.json",
        "tenantid": str(tenant_id),
        "data": data,
    }
    if traceparent:
        envelope["traceparent"] = traceparent
    return json.dumps(envelope)


def entitlement_data(
    tenant_id: uuid.UUID | str,
    *,
    module: str = "portrait_plus",
    valid_from: str = "2026-01-01T00:00:00+00:00",
    valid_until: str | None = None,
) -> dict[str, Any]:
    """The data of a licensing.entitlement-changed message."""
    return {
        "tenant_id": str(tenant_id),
        "module": module,
        "valid_from": valid_from,
        "valid_until": valid_until,
    }


def death_data(tenant_id: uuid.UUID | str, *, value: str = "123-45-6789") -> dict[str, Any]:
    """The data of a civil-registry.death-notified message (the identifier is PHI-like)."""
    return {
        "tenant_id": str(tenant_id),
        "notification_id": f"CR-{uuid.uuid4().hex[:8]}",
        "person_identifier": {"system": "urn:oid:2.16.840.1.113883.4.1", "value": value},
        "date_of_death": "2026-01-14",
        "registered_at": "2026-01-15T09:00:00+00:00",
    }


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a `manage.py` subprocess that works on the test database."""
    from django.db import connections

    from tests.conftest import TEST_DB_NAME

    default = connections["default"].settings_dict
    app = {
        "USER": default["USER"],
        "PASSWORD": default.get("PASSWORD", ""),
        "HOST": default.get("HOST"),
        "PORT": default.get("PORT"),
    }
    return {
        **os.environ,
        "REGSVC_ENV": "test",
        "DATABASE_URL": _database_url(app, TEST_DB_NAME),
        "DATABASE_RELAY_URL": settings.OUTBOX_RELAY_DATABASE_URL,
        "OUTBOX_STREAM_PREFIX": settings.OUTBOX_STREAM_PREFIX,
        "OUTBOX_BUS_URL": settings.OUTBOX_BUS_URL,
        "OUTBOX_WAKE_ON_COMMIT": "0",
        **extra,
    }


def _database_url(parts: dict[str, Any], dbname: str) -> str:
    password = f":{parts['PASSWORD']}" if parts.get("PASSWORD") else ""
    host = parts.get("HOST") or "127.0.0.1"
    port = parts.get("PORT") or 5432
    return f"postgres://{parts['USER']}{password}@{host}:{port}/{dbname}"


class ReplyHoldingProxy:
    """A TCP proxy to Redis that, once a client sends XADD, stops passing Redis's replies back.

    Redis executes the commands; the client never learns it did — the "bus took the batch, the
    relay died before it could commit" failure, produced for real on loopback.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = [self.listener]
        self.threads: list[threading.Thread] = []
        self._spawn(self._accept)

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"redis://127.0.0.1:{self.port}/0"

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, server]
            held = threading.Event()
            self._spawn(self._pipe, client, server, held, True)
            self._spawn(self._pipe, server, client, held, False)

    @staticmethod
    def _pipe(
        source: socket.socket, sink: socket.socket, held: threading.Event, requests: bool
    ) -> None:
        try:
            while data := source.recv(65536):
                if requests and b"XADD" in data.upper():
                    held.set()
                if requests or not held.is_set():
                    sink.sendall(data)
        except OSError:
            return

    def close(self) -> None:
        """Close every socket; the pipe threads end."""
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept/recv
            sock.close()
        for thread in self.threads:
            thread.join(timeout=5)
