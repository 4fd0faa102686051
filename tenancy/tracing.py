"""Distributed tracing: OpenTelemetry set up once per process, W3C trace context, no PHI.

`setup_tracing()` is called by every entry point (config/wsgi.py, config/asgi.py, manage.py,
and Celery's `worker_process_init`). It reads the standard environment through settings:
an OTLP endpoint (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`) turns
tracing on; `OTEL_SERVICE_NAME` names the service; the SDK itself reads the sampler
(`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`; default: parent-based, always on) and the
exporter's headers/timeouts; `OTEL_SDK_DISABLED=true` turns it off. Without an endpoint
nothing is installed and the API's no-op tracer stays: spans cost nothing, and events still
carry a W3C `traceparent` (the incoming request's or message's trace, else a new one).

PHI rules, enforced here for every instrumentation: psycopg spans carry the parametrised SQL
only (no parameters, no sqlcommenter), Redis spans the command name with `?` for arguments,
Django spans the path without its query string (`http.url`, `http.target`, `url.full`;
`url.query` is dropped), no request or response bodies or headers, and exception events are
passed through `tenancy.phi.redact_text` (see `PhiSafeSpanProcessor`).
"""

import os
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpRequest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from tenancy.phi import is_phi_key, redact_text

TRACEPARENT_PATTERN = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_INVALID_TRACE_ID = "0" * 32
_INVALID_SPAN_ID = "0" * 16
TRACER_NAME = "regsvc"
# Probes and the scrape would be most of the traces and say nothing.
EXCLUDED_URLS = "healthz,readyz,metrics"
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target")
_DROPPED_ATTRIBUTES = frozenset({"url.query"})

P = ParamSpec("P")
R = TypeVar("R")

_incoming: ContextVar[str] = ContextVar("incoming_traceparent", default="")
_propagator = TraceContextTextMapPropagator()


# --- W3C trace context, with or without an SDK -------------------------------------------


def parse_traceparent(value: str | None) -> str:
    """The value when it is a well-formed version-00 traceparent, else ''."""
    if not value:
        return ""
    candidate = value.strip().lower()
    match = TRACEPARENT_PATTERN.match(candidate)
    if match is None or match[1] == _INVALID_TRACE_ID or match[2] == _INVALID_SPAN_ID:
        return ""
    return candidate


def format_traceparent(span_context: SpanContext) -> str:
    """The W3C `traceparent` of a span context ('' when it is not valid)."""
    if not span_context.is_valid:
        return ""
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
        f"{int(span_context.trace_flags):02x}"
    )


def context_from_traceparent(traceparent: str | None) -> Context | None:
    """An OpenTelemetry context whose parent is `traceparent` (None when malformed)."""
    parsed = parse_traceparent(traceparent)
    if not parsed:
        return None
    return _propagator.extract({"traceparent": parsed})


def span_context_of(traceparent: str | None) -> SpanContext | None:
    """The remote span context a traceparent names (for links), or None."""
    ctx = context_from_traceparent(traceparent)
    if ctx is None:
        return None
    return trace.get_current_span(ctx).get_span_context()


def incoming_traceparent() -> str:
    """The traceparent the running request or message brought ('' when none)."""
    return _incoming.get()


@contextmanager
def incoming_trace_context(traceparent: str | None) -> Iterator[str]:
    """Run the block with `traceparent` (if well-formed) as what came in with the work."""
    token = _incoming.set(parse_traceparent(traceparent))
    try:
        yield _incoming.get()
    finally:
        _incoming.reset(token)


def current_span_traceparent() -> str:
    """The traceparent of the active OpenTelemetry span ('' when tracing is off or idle)."""
    return format_traceparent(trace.get_current_span().get_span_context())


def current_traceparent() -> str:
    """The active span's traceparent, else the incoming one ('' when neither exists)."""
    return current_span_traceparent() or _incoming.get()


def child_traceparent(parent: str | None = None) -> str:
    """A traceparent for a new span: same trace and flags as `parent`, or a new sampled trace."""
    parsed = parse_traceparent(parent if parent is not None else _incoming.get())
    span_id = secrets.token_hex(8)
    match = TRACEPARENT_PATTERN.match(parsed)
    if match is None:
        return f"00-{secrets.token_hex(16)}-{span_id}-01"
    return f"00-{match[1]}-{span_id}-{match[3]}"


def current_trace_ids() -> tuple[str, str]:
    """(trace id, span id) for log lines: the active span's, else the incoming context's."""
    traceparent = current_traceparent()
    match = TRACEPARENT_PATTERN.match(traceparent)
    return (match[1], match[2]) if match else ("", "")


# --- the tracer --------------------------------------------------------------------------


@dataclass
class _State:
    provider: TracerProvider | None = None
    pid: int = 0
    instrumentors: list[Any] = field(default_factory=list)
    # Tracers by name, with the provider that made them: `get_tracer` builds a new one each call.
    tracers: dict[str, tuple[TracerProvider, trace.Tracer]] = field(default_factory=dict)


_state = _State()


def tracer(name: str = TRACER_NAME) -> trace.Tracer:
    """This process's tracer (a no-op one until `setup_tracing` installed a provider)."""
    provider = _state.provider
    if provider is not None:
        cached = _state.tracers.get(name)
        if cached is None or cached[0] is not provider:
            cached = _state.tracers[name] = (provider, provider.get_tracer(name))
        return cached[1]
    return trace.get_tracer(name)


def tracing_enabled() -> bool:
    """True once `setup_tracing` installed a provider in this process."""
    return _state.provider is not None


def traced(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a service so each call is a span `name` (no arguments are recorded)."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with tracer().start_as_current_span(
                name, attributes={"code.function": function.__qualname__}
            ):
                return function(*args, **kwargs)

        return wrapper

    return decorate


# --- PHI-safe spans ----------------------------------------------------------------------


def strip_query(url: str) -> str:
    """`url` without its query string and fragment."""
    if "?" not in url and "#" not in url:
        return url
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _safe_attributes(
    attributes: Any,
) -> dict[str, AttributeValue] | None:
    """A cleaned copy of span or event attributes, or None when nothing needed cleaning."""
    if not attributes:
        return None
    cleaned: dict[str, AttributeValue] = {}
    changed = False
    for key, value in attributes.items():
        if key in _DROPPED_ATTRIBUTES or is_phi_key(key.rsplit(".", 1)[-1]):
            changed = True
            continue
        if key in _URL_ATTRIBUTES and isinstance(value, str):
            safe = strip_query(value)
        elif key in ("exception.message", "exception.stacktrace") and isinstance(value, str):
            safe = redact_text(value)
        else:
            safe = value
        changed = changed or safe != value
        cleaned[key] = safe
    return cleaned if changed else None


class PhiSafeSpanProcessor(SpanProcessor):
    """Hands `inner` a copy of each ended span without query strings, PHI-named attributes
    or PHI in exception texts (the last net: the instrumentations are configured not to
    record any of it in the first place)."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner

    def on_start(self, span: SdkSpan, parent_context: Context | None = None) -> None:
        """Pass through."""
        self.inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        """Clean, then pass on."""
        self.inner.on_end(sanitized_span(span))

    def shutdown(self) -> None:
        """Pass through."""
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Pass through."""
        return self.inner.force_flush(timeout_millis)


def sanitized_span(span: ReadableSpan) -> ReadableSpan:
    """`span` itself when it is clean, else a cleaned copy."""
    attributes = _safe_attributes(span.attributes)
    events = list(span.events)
    event_changed = False
    for index, event in enumerate(events):
        safe = _safe_attributes(event.attributes)
        if safe is not None:
            events[index] = type(event)(event.name, safe, event.timestamp)
            event_changed = True
    if attributes is None and not event_changed:
        return span
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes if attributes is not None else span.attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def django_request_hook(span: Span, request: HttpRequest) -> None:
    """Replace the URL attributes the Django instrumentation took from the raw request with
    the path alone: query strings carry search criteria (names, birth dates)."""
    if not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str):
            span.set_attribute(key, strip_query(value))


# --- set-up ------------------------------------------------------------------------------


def _configured_endpoint() -> str:
    if str(getattr(settings, "OTEL_SDK_DISABLED", False)).lower() in {"1", "true"}:
        return ""
    return str(getattr(settings, "OTEL_TRACES_ENDPOINT", ""))


def setup_tracing(
    *, exporter: SpanExporter | None = None, set_global: bool = True
) -> TracerProvider | None:
    """Install the tracer provider and the instrumentations, once per process.

    Without `exporter`, an OTLP/HTTP exporter is used when an endpoint is configured; with none,
    nothing is installed and None is returned. Tests pass an in-memory `exporter` (spans are
    then exported synchronously) and `set_global=False` (the global provider can be set only
    once per process); `shutdown_tracing()` undoes everything.
    """
    if _state.provider is not None and _state.pid == os.getpid():
        return _state.provider
    synchronous = exporter is not None
    if exporter is None:
        if not _configured_endpoint():
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415 - only when configured
            OTLPSpanExporter,
        )

        exporter = OTLPSpanExporter()
    resource = Resource.create(
        {"service.name": settings.OTEL_SERVICE_NAME, "deployment.environment": settings.ENVIRONMENT}
    )
    provider = TracerProvider(resource=resource)
    inner: SpanProcessor = (
        SimpleSpanProcessor(exporter) if synchronous else BatchSpanProcessor(exporter)
    )
    provider.add_span_processor(PhiSafeSpanProcessor(inner))
    if set_global:
        trace.set_tracer_provider(provider)
    _state.provider, _state.pid = provider, os.getpid()
    _state.tracers.clear()  # tracers of a provider from before a fork
    _state.instrumentors = _instrument(provider)
    return provider


def _instrument(provider: TracerProvider) -> list[Any]:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor  # noqa: PLC0415
    from opentelemetry.instrumentation.django import DjangoInstrumentor  # noqa: PLC0415
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor  # noqa: PLC0415
    from opentelemetry.instrumentation.redis import RedisInstrumentor  # noqa: PLC0415

    DjangoInstrumentor().instrument(
        tracer_provider=provider,
        request_hook=django_request_hook,
        excluded_urls=EXCLUDED_URLS,
        is_sql_commentor_enabled=False,
    )
    PsycopgInstrumentor().instrument(
        tracer_provider=provider,
        enable_commenter=False,
        enable_attribute_commenter=False,
        capture_parameters=False,
    )
    celery = CeleryInstrumentor()  # type: ignore[no-untyped-call]  # untyped upstream
    celery.instrument(tracer_provider=provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    # The instrumentors are singletons: these are the instances just used.
    return [DjangoInstrumentor(), PsycopgInstrumentor(), celery, RedisInstrumentor()]


def shutdown_tracing() -> None:
    """Remove the instrumentations and flush and drop the provider (tests, process exit)."""
    for instrumentor in _state.instrumentors:
        instrumentor.uninstrument()
    if _state.provider is not None:
        _state.provider.shutdown()
    _state.provider, _state.pid, _state.instrumentors = None, 0, []
    _state.tracers.clear()


@contextmanager
def continued_span(
    name: str,
    *,
    traceparent: str | None,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    attributes: dict[str, AttributeValue] | None = None,
) -> Iterator[Span]:
    """A span continuing the trace `traceparent` names (a new trace when it names none),
    linked to the span that was active, if any (e.g. the webhook request that delivered it)."""
    active = trace.get_current_span().get_span_context()
    parent = context_from_traceparent(traceparent)
    links: Sequence[trace.Link] = [trace.Link(active)] if active.is_valid else []
    token = otel_context.attach(parent) if parent is not None else None
    try:
        with tracer().start_as_current_span(
            name, kind=kind, attributes=attributes, links=links
        ) as span:
            yield span
    finally:
        if token is not None:
            otel_context.detach(token)
