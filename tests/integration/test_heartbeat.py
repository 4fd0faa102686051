"""Heartbeats and their probe: the worker and the relay beat while they make progress, and
`manage.py heartbeat_check` (their exec probes in k8s/) passes on a fresh beat and fails on a
stale or missing one — in-process and as the probe runs it, by exit status."""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.management import CommandError, call_command

from tenancy import heartbeat as heartbeats
from tenancy.heartbeat import heartbeat, heartbeat_age, heartbeat_path
from tests.integration.outbox.helpers import delete_prefixed_keys


@pytest.fixture
def heartbeat_dir(settings, tmp_path) -> Iterator[Path]:
    """A heartbeat directory of this test's own, nothing beaten yet."""
    settings.HEARTBEAT_DIR = str(tmp_path / "heartbeat")
    settings.HEARTBEAT_INTERVAL_SECONDS = 0.5
    heartbeats._last_touch.clear()
    yield Path(settings.HEARTBEAT_DIR)
    heartbeats._last_touch.clear()


def _age_by(name: str, seconds: float) -> None:
    """Make `name`'s last beat `seconds` older than it is."""
    path = heartbeat_path(name)
    stamp = path.stat().st_mtime - seconds
    os.utime(path, (stamp, stamp))


def test_the_probe_passes_on_a_fresh_beat_and_fails_on_a_stale_or_missing_one(heartbeat_dir):
    with pytest.raises(CommandError, match="no heartbeat from relay yet"):
        call_command("heartbeat_check", "relay", "--max-age", "60")
    heartbeat("relay")
    out = StringIO()
    call_command("heartbeat_check", "relay", "--max-age", "60", stdout=out)
    assert out.getvalue().startswith("relay beat ")
    _age_by("relay", 120)
    with pytest.raises(CommandError, match=r"the relay heartbeat is 1\d\d s old \(limit 60 s\)"):
        call_command("heartbeat_check", "relay", "--max-age", "60")
    call_command("heartbeat_check", "relay", "--max-age", "600", stdout=StringIO())
    with pytest.raises(CommandError, match="identifiers"):
        call_command("heartbeat_check", "../etc/passwd", "--max-age", "60")


def _probe(heartbeat_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "heartbeat_check", "relay", "--max-age", "60"],
        env={**os.environ, "HEARTBEAT_DIR": str(heartbeat_dir)},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_probe_command_exits_non_zero_unless_the_beat_is_fresh(heartbeat_dir):
    heartbeat("relay")
    fresh = _probe(heartbeat_dir)
    assert fresh.returncode == 0, fresh.stderr
    _age_by("relay", 61)
    stale = _probe(heartbeat_dir)
    assert stale.returncode == 1
    assert "the relay heartbeat is" in stale.stderr  # a missing one: in-process, above


def test_beats_are_throttled_to_one_touch_a_second(heartbeat_dir):
    heartbeat("relay")
    _age_by("relay", 30)
    heartbeat("relay")  # within the second: not touched again
    assert (heartbeat_age("relay") or 0) >= 30
    heartbeats._last_touch["relay"] -= heartbeats.MIN_INTERVAL_SECONDS
    heartbeat("relay")
    assert (heartbeat_age("relay") or 99) < 30


@pytest.fixture
def bus(settings, relay_db) -> Iterator[None]:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    settings.OUTBOX_STREAM_PREFIX = prefix
    settings.OUTBOX_BUS_URL = settings.REDIS_URL
    settings.OUTBOX_WAKE_ON_COMMIT = False
    yield
    client = redis.Redis.from_url(settings.REDIS_URL)
    delete_prefixed_keys(client, prefix)
    client.close()


def test_the_relay_loop_beats(heartbeat_dir, bus):
    assert heartbeat_age("relay") is None
    call_command("outbox_relay", "--once", stdout=StringIO())
    call_command("heartbeat_check", "relay", "--max-age", "60", stdout=StringIO())


def _wait_for(condition, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_running_worker_keeps_beating(heartbeat_dir, celery_worker):
    assert _wait_for(lambda: heartbeat_age("worker") is not None)
    _age_by("worker", 120)  # the beat after this proves the consumer's timer keeps running
    assert _wait_for(lambda: (heartbeat_age("worker") or 999) < 60)
    call_command("heartbeat_check", "worker", "--max-age", "60", stdout=StringIO())
