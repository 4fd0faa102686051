"""Heartbeats: processes that serve no HTTP prove progress to their Kubernetes probes.

A long-running loop calls `heartbeat(name)` each time round (the outbox relay after each
drain; a Celery worker from its consumer's event loop, `WorkerHeartbeat`), which touches the
file `HEARTBEAT_DIR/<name>`. The exec probe `manage.py heartbeat_check <name> --max-age N`
fails when that file is missing or older than N seconds: a loop that hangs (a stuck query, a
blocked event loop) stops touching it and the pod is restarted, while a process that is merely
idle keeps it fresh. Dependencies being down (database, broker) do not stop a heartbeat by
themselves: a restart would not fix them, and the alerts (outbox lag, queue depth) cover them.
"""

import os
import time
from pathlib import Path
from typing import Any

from celery import bootsteps
from django.conf import settings

# At most one touch per name this often: the relay loops every few hundred milliseconds.
MIN_INTERVAL_SECONDS = 1.0
_last_touch: dict[str, float] = {}


def heartbeat_path(name: str) -> Path:
    """The file whose modification time is `name`'s heartbeat."""
    if not name.isidentifier():
        raise ValueError(f"heartbeat names are identifiers, not {name!r}")
    return Path(settings.HEARTBEAT_DIR) / name


def heartbeat(name: str) -> None:
    """Record that `name` is making progress now (cheap: at most one touch a second)."""
    now = time.monotonic()
    if now - _last_touch.get(name, -MIN_INTERVAL_SECONDS) < MIN_INTERVAL_SECONDS:
        return
    path = heartbeat_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.utime(path)  # touch() leaves the time alone on some file systems when the file exists
    _last_touch[name] = now


def heartbeat_age(name: str) -> float | None:
    """Seconds since `name`'s last heartbeat (None when it never beat)."""
    try:
        modified = heartbeat_path(name).stat().st_mtime
    except FileNotFoundError:
        return None
    return max(0.0, time.time() - modified)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """A Celery consumer step: beats `worker` every HEARTBEAT_INTERVAL_SECONDS from the
    consumer's own timer, so it stops when the worker's event loop does (or the consumer is
    down and restarting)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None

    def start(self, parent: Any) -> None:
        """Beat now and then on the consumer's timer."""
        _last_touch.pop("worker", None)
        heartbeat("worker")
        self.tref = parent.timer.call_repeatedly(
            float(settings.HEARTBEAT_INTERVAL_SECONDS), heartbeat, ("worker",), priority=10
        )

    def stop(self, parent: Any) -> None:
        """Stop beating (the consumer is restarting or shutting down)."""
        if self.tref is not None:
            parent.timer.cancel(self.tref)
            self.tref = None

    shutdown = stop
