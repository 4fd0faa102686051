"""W3C trace context: kept from the request or message, a new span per event."""

from django.http import HttpResponse
from django.test import RequestFactory

from outbox.middleware import TraceContextMiddleware
from outbox.tracing import child_traceparent, current_traceparent, parse_traceparent, trace_context

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_parse_accepts_only_well_formed_version_00():
    assert parse_traceparent(PARENT.upper()) == PARENT
    assert parse_traceparent(f" {PARENT} ") == PARENT
    for bad in (
        None,
        "",
        "garbage",
        "01-" + PARENT[3:],
        "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
        PARENT[:-19] + "0" * 16 + "-01",
    ):
        assert parse_traceparent(bad) == ""


def test_child_keeps_the_trace_and_takes_a_new_span():
    child = child_traceparent(PARENT)
    assert child.split("-")[1] == PARENT.split("-")[1]
    assert child.split("-")[2] != PARENT.split("-")[2]
    assert child.endswith("-01")
    fresh = child_traceparent("")
    assert parse_traceparent(fresh) == fresh
    assert fresh.split("-")[1] != PARENT.split("-")[1]


def test_context_is_scoped():
    assert current_traceparent() == ""
    with trace_context(PARENT) as active:
        assert active == PARENT == current_traceparent()
        assert child_traceparent().split("-")[1] == PARENT.split("-")[1]
        with trace_context("junk"):
            assert current_traceparent() == ""
        assert current_traceparent() == PARENT
    assert current_traceparent() == ""


def test_middleware_carries_the_request_header():
    seen = []

    def view(request):
        seen.append(current_traceparent())
        return HttpResponse("ok")

    middleware = TraceContextMiddleware(view)
    middleware(RequestFactory().get("/", headers={"traceparent": PARENT}))
    middleware(RequestFactory().get("/"))
    assert seen == [PARENT, ""]
    assert current_traceparent() == ""
