"""Per-request (or per-task) context that logging may read at any time.

Kept free of models and of Django's app registry so the logging filters can import it while
settings are still being configured.
"""

from contextvars import ContextVar

_current_request_id: ContextVar[str] = ContextVar("current_request_id", default="")


def set_request_id(request_id: str) -> None:
    """Remember the request id so audit rows, events and log lines can carry it."""
    _current_request_id.set(request_id)


def current_request_id() -> str:
    """The id of the request (or task) being served, '' outside one."""
    return _current_request_id.get()
