"""The service under test: gunicorn with production settings on a free loopback port."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def production_env(
    *, app_url: str, owner_url: str, relay_url: str, redis_url: str
) -> dict[str, str]:
    """REGSVC_ENV=production with everything it requires; the secret key is made up per run."""
    return {
        **os.environ,
        "REGSVC_ENV": "production",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": app_url,
        "DATABASE_OWNER_URL": owner_url,
        "DATABASE_RELAY_URL": relay_url,
        "REDIS_URL": redis_url,
        "OUTBOX_BUS_URL": redis_url,
        "REGSVC_BENCH_ENDPOINTS": "1",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


@contextmanager
def gunicorn(
    env: dict[str, str], *, workers: int, log: Path, config_module: str = ""
) -> Iterator[str]:
    """Start gunicorn (sync workers), wait for /healthz, yield its base URL, stop it."""
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--timeout",
        "60",
        "--graceful-timeout",
        "20",
    ]
    if config_module:
        command += ["--config", f"python:{config_module}"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as output:
        process = subprocess.Popen(  # noqa: S603 - the project's gunicorn, fixed arguments
            command, cwd=ROOT, env=env, stdout=output, stderr=output
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({process.returncode}); see {log}")
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:  # noqa: S310 - loopback
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer /healthz; see {log}")
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
