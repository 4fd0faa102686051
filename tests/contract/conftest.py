"""Contract tests: Pact (consumer and provider sides) and the event schema guard.

Pact's core would send anonymous usage statistics over the network; this suite runs offline.
The provider side serves the real Django app from a thread on a loopback port.
"""

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

os.environ.setdefault("PACT_DO_NOT_TRACK", "true")

PACT_DIR = Path(__file__).resolve().parent / "pacts"


class _QuietHandler(WSGIRequestHandler):
    """Django's dev request handler without the per-request access log."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def live_server_url(committed_db: None) -> Iterator[str]:
    """The real app (middleware, RLS, DRF) on a loopback port; each request thread closes its
    database connections when the request ends."""
    server = ThreadedWSGIServer(("127.0.0.1", 0), _QuietHandler, allow_reuse_address=True)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def close_pact_helpers(verifier: Any) -> None:
    """Close the sockets of Pact's in-process helper servers (state changes, messages).

    pact-python 4.2 stops them with `shutdown()` but never `server_close()`, leaving listening
    sockets for the garbage collector (a ResourceWarning, which this suite treats as an error).
    """
    for helper in (
        getattr(verifier, "_state_handler", None),
        getattr(verifier, "_message_producer", None),
    ):
        server = getattr(helper, "_server", None)
        if server is not None:
            server.server_close()
