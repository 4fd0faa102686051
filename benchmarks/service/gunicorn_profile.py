"""gunicorn hooks for BENCH_PROFILE=1: pyinstrument around every request of one worker.

The harness starts a one-worker gunicorn with `--config python:benchmarks.service.
gunicorn_profile` and BENCH_PROFILE_OUT=<stem>; on exit the worker writes <stem>.html, <stem>.txt
and <stem>.json (own wall time per package) under .local/.
"""

import json
import os
from pathlib import Path
from typing import Any

from pyinstrument import Profiler

_profiler: Profiler | None = None
_seen = 0
_profiled = 0
TOP = 8
# The first requests of a fresh worker pay one-off costs (imports, schema loading, connection):
# they are left out so the profile shows the steady state the load runs measured.
SKIP = int(os.environ.get("BENCH_PROFILE_SKIP", "5"))


def post_worker_init(worker: Any) -> None:
    """One profiler per worker, resumed for each request and paused in between."""
    global _profiler  # noqa: PLW0603 - gunicorn hooks share state through the module
    _profiler = Profiler(interval=0.0005)


def pre_request(worker: Any, req: Any) -> None:
    """Resume profiling for this request (after the warm-up requests)."""
    global _seen, _profiled  # noqa: PLW0603 - idem
    _seen += 1
    if _profiler is not None and _seen > SKIP:
        _profiled += 1
        _profiler.start()


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    """Pause profiling between requests (gunicorn's own idle time is not the service's)."""
    if _profiler is not None and _profiler.is_running:
        _profiler.stop()


def heaviest(frame: Any, totals: dict[str, float], owner: str = "") -> None:
    """Own wall time (a frame's time less its children's) per package over the call tree.

    The package is the first part of the frame file's short path (django, psycopg, registration,
    …); pyinstrument's synthetic frames (`[self]`, `[await]`, …) count for the real frame above.
    Time in psycopg includes waiting for PostgreSQL.
    """
    if frame is None:
        return
    if not str(frame.function).startswith("["):
        path = str(frame.file_path_short or "")
        owner = path.split("/", 1)[0] if "/" in path else path or "<built-in>"
    own = frame.time - sum(child.time for child in frame.children)
    totals[owner] = totals.get(owner, 0.0) + max(own, 0.0)
    for child in frame.children:
        heaviest(child, totals, owner)


def per_request(wall_seconds: float, cpu_seconds: float, requests: int) -> dict[str, Any]:
    """Profiled requests and the worker's mean wall and CPU milliseconds per request."""
    if not requests:
        return {"requests": 0}
    return {
        "requests": requests,
        "cpu_seconds": round(cpu_seconds, 3),
        "wall_ms_per_request": round(wall_seconds * 1000 / requests, 2),
        "cpu_ms_per_request": round(cpu_seconds * 1000 / requests, 2),
    }


def worker_exit(server: Any, worker: Any) -> None:
    """Write the profile and its summary."""
    stem = os.environ.get("BENCH_PROFILE_OUT")
    if _profiler is None or not stem or _profiler.last_session is None:
        return
    path = Path(stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".html").write_text(_profiler.output_html(), encoding="utf-8")
    path.with_suffix(".txt").write_text(_profiler.output_text(show_all=False), encoding="utf-8")
    session = _profiler.last_session
    totals: dict[str, float] = {}
    root = session.root_frame()
    heaviest(root, totals)
    duration = (root.time if root is not None else 0.0) or 1.0
    top = sorted(totals.items(), key=lambda item: -item[1])[:TOP]
    path.with_suffix(".json").write_text(
        json.dumps(
            {
                "seconds": round(duration, 3),
                # The worker's own CPU per request moves far less than wall time when other
                # work shares the machine: the before/after figure of a profile-driven fix.
                **per_request(duration, session.cpu_time, _profiled),
                "top_own_time": [
                    {"package": name, "share": round(seconds / duration, 3)}
                    for name, seconds in top
                ],
            }
        ),
        encoding="utf-8",
    )
