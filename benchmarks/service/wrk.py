"""Driving Debian's `wrk` from the harness: the command line, the run, and its JSON summary.

wrk runs as its own process (a separate load generator, loopback only) with `rotate.lua`, whose
`done()` hook prints one `BENCH_JSON {...}` line. Each run is bounded twice: by duration (`-d`)
and by a response count per thread (BENCH_MAX_REQUESTS, enforced by the script).
"""

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("rotate.lua")
MARKER = "BENCH_JSON "


@dataclass(frozen=True, slots=True)
class WrkRun:
    """One load run: what to send, how hard and for how long."""

    url: str
    requests_file: Path
    connections: int
    seconds: float
    offset: int = 0
    path_override: str = ""
    max_requests_per_thread: int = 0
    accept: str = "application/json"

    @property
    def threads(self) -> int:
        """One wrk thread per core at most, never more threads than connections."""
        return max(1, min(self.connections, os.cpu_count() or 1))


def wrk_command(run: WrkRun, binary: str = "wrk") -> list[str]:
    """The argv of one run (the API key travels in the environment, never on the command line)."""
    seconds = max(1, round(run.seconds))
    command = [
        binary,
        "-t",
        str(run.threads),
        "-c",
        str(run.connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        run.url,
        "--",
        str(run.requests_file),
        str(run.offset),
    ]
    if run.path_override:
        command.append(run.path_override)
    return command


def parse_wrk_output(stdout: str) -> dict[str, Any]:
    """The figures of one run from wrk's output: req/s, latency percentiles in ms, errors."""
    lines = [line for line in stdout.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise ValueError("wrk printed no BENCH_JSON summary (did the Lua script load?)")
    raw = json.loads(lines[-1][len(MARKER) :])
    seconds = raw["duration_us"] / 1e6
    latency = raw["latency_us"]
    errors = raw["errors"]
    socket_errors = errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 3),
        "rps": round(raw["requests"] / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": round(latency["p50"] / 1000, 2),
        "p95_ms": round(latency["p95"] / 1000, 2),
        "p99_ms": round(latency["p99"] / 1000, 2),
        "max_ms": round(latency["max"] / 1000, 2),
        "mean_ms": round(latency["mean"] / 1000, 2),
        "non2xx": raw["non2xx"],
        "socket_errors": socket_errors,
    }


def ensure_wrk() -> str:
    """The wrk binary; installed from the distribution's packages when missing (root, apt)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)  # noqa: S607 - the distribution's apt-get
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],  # noqa: S607
            check=True,
            env=env,
            capture_output=True,
        )
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("wrk is needed (Debian/Ubuntu: sudo apt-get install wrk)")


def wrk_run(run: WrkRun, api_key: str, binary: str) -> dict[str, Any]:
    """Run wrk once and return its parsed figures (plus the offset and connections used)."""
    env = {
        **os.environ,
        "BENCH_API_KEY": api_key,
        "BENCH_THREADS": str(run.threads),
        "BENCH_MAX_REQUESTS": str(run.max_requests_per_thread),
        "BENCH_ACCEPT": run.accept,
    }
    completed = subprocess.run(  # noqa: S603 - the machine's wrk, arguments built above
        wrk_command(run, binary),
        env=env,
        capture_output=True,
        text=True,
        timeout=run.seconds + 60,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    return {**parse_wrk_output(completed.stdout), "connections": run.connections}
