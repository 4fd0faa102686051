"""Request wiring of the outbox: the caller's trace context follows the events it causes."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from outbox.tracing import trace_context


class TraceContextMiddleware:
    """Remember the request's `traceparent` header for the events the request enqueues."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with trace_context(request.headers.get("traceparent")):
            return self.get_response(request)
