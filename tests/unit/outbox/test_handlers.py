"""The inbox handler registry."""

import pytest

from outbox.errors import PoisonMessageError
from outbox.handlers import (
    handler_for,
    inbox_handler,
    register_handler,
    registered_handlers,
    unregister_handler,
)


def test_default_handlers_are_registered():
    assert registered_handlers() == [
        ("civil-registry.death-notified", 1),
        ("licensing.entitlement-changed", 1),
    ]


def test_registration_refuses_silent_replacement():
    @inbox_handler("test.probed", 2)
    def first(context):
        return None

    try:
        assert handler_for("test.probed", 2) is first
        register_handler("test.probed", 2, first)  # the same handler again is fine
        with pytest.raises(ValueError, match="already registered"):
            register_handler("test.probed", 2, lambda context: None)
        register_handler("test.probed", 2, print, replace=True)
        assert handler_for("test.probed", 2) is print
    finally:
        unregister_handler("test.probed", 2)
    with pytest.raises(PoisonMessageError, match=r"No handler for test\.probed v2"):
        handler_for("test.probed", 2)
