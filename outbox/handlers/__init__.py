"""Inbox handlers: what to do with each (event type, schema version) this service consumes.

Handlers are registered by decorating a function with `@inbox_handler(type, version)`; the
module that owns a reaction may register (or replace, with `replace=True`) the handler from its
AppConfig.ready(), so higher layers (e.g. registration's vital status) can take over an event
without the outbox importing them. A handler runs inside the message's tenant scope and the
inbox's transaction; it parses and calls a service, and raises PoisonMessageError (or any
DomainError) for a message that can never succeed, TransientMessageError for one that may.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from outbox.errors import PoisonMessageError


@dataclass(frozen=True, slots=True)
class InboxContext:
    """One validated message, as a handler sees it."""

    inbox_message_id: int
    sender: str
    source: str
    message_id: str
    event_type: str
    schema_version: int
    tenant_id: UUID
    data: dict[str, Any]


Handler = Callable[[InboxContext], None]
_handlers: dict[tuple[str, int], Handler] = {}


def register_handler(
    event_type: str, version: int, handler: Handler, *, replace: bool = False
) -> None:
    """Make `handler` the one for `event_type` v`version` (refusing silent replacement)."""
    key = (event_type, version)
    if key in _handlers and _handlers[key] is not handler and not replace:
        raise ValueError(f"A handler for {event_type} v{version} is already registered")
    _handlers[key] = handler


def unregister_handler(event_type: str, version: int) -> None:
    """Remove a handler (messages of that type then go dead until one is registered)."""
    _handlers.pop((event_type, version), None)


def inbox_handler(event_type: str, version: int = 1) -> Callable[[Handler], Handler]:
    """Decorator form of `register_handler`."""

    def decorate(handler: Handler) -> Handler:
        register_handler(event_type, version, handler)
        return handler

    return decorate


def handler_for(event_type: str, version: int) -> Handler:
    """The registered handler; a message nobody handles is poison (parked until one exists)."""
    try:
        return _handlers[(event_type, version)]
    except KeyError:
        raise PoisonMessageError(f"No handler for {event_type} v{version}.") from None


def registered_handlers() -> list[tuple[str, int]]:
    """Every (type, version) with a handler, sorted."""
    return sorted(_handlers)


def load_default_handlers() -> None:
    """Import the outbox's own handlers so their decorators register them."""
    from outbox.handlers import civil_registry, licensing  # noqa: F401, PLC0415 - registration by import
