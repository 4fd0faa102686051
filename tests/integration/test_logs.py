"""Structured logs: request id, tenant id, trace and span ids on every line; PHI redacted."""

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from opentelemetry.sdk.trace import TracerProvider

from config.celery import app
from tenancy.db import tenant_scope
from tenancy.logs import (
    LogContextFilter,
    PhiRedactingFilter,
    json_formatter,
    log_fields,
    text_formatter,
)
from tenancy.middleware import PhiValuesMiddleware, RequestIdMiddleware
from tenancy.phi import REDACTED, phi_values_known, phi_values_reset
from tenancy.request_context import set_request_id
from tests.factories import make_tenant

BODY = {
    "names": [{"use": "official", "family": "Okafor", "given": ["Adaeze"]}],
    "birth_date": "1987-03-14",
    "identifiers": [{"system": "urn:mrn", "value": "MRN884213"}],
}


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose one handler is set up like settings.LOGGING's console handler (JSON)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogContextFilter())
    handler.addFilter(PhiRedactingFilter())
    handler.setFormatter(json_formatter())
    logger = logging.getLogger(f"tests.logs.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)  # an earlier in-thread worker may have set the root to ERROR
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    set_request_id("")
    phi_values_reset()
    yield logger, stream
    logger.removeHandler(handler)
    set_request_id("")
    phi_values_reset()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_settings_configure_the_console_handler():
    # Applied afresh: other tests (in-thread workers, captured loggers) may have reconfigured
    # the process's root logger by now; what matters is what the settings install.
    logging.config.dictConfig(settings.LOGGING)
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    configured = [
        h
        for h in handlers
        if {type(f) for f in h.filters} >= {LogContextFilter, PhiRedactingFilter}
    ]
    assert configured, "the root logger's console handler adds context and redacts PHI"


def test_celery_workers_keep_the_configured_handlers():
    """A real worker (`celery worker`) replaces the root logger's handlers with its own plain
    ones unless told not to: its lines would then skip the PHI filter."""
    assert app.conf.worker_hijack_root_logger is False


def test_every_line_carries_request_tenant_and_trace(captured, db):
    logger, stream = captured
    tenant = make_tenant()
    tracer = TracerProvider().get_tracer("tests")

    seen: list[tuple[str, str]] = []

    def view(request: HttpRequest) -> HttpResponse:
        with tenant_scope(tenant.id), tracer.start_as_current_span("work") as span:
            logger.info("registering patient %s", "550e8400-e29b-41d4-a716-446655440000")
            context = span.get_span_context()
            seen.append((f"{context.trace_id:032x}", f"{context.span_id:016x}"))
        return HttpResponse("ok")

    request = RequestFactory().get("/", headers={"X-Request-ID": "req-42"})
    RequestIdMiddleware(view)(request)
    logger.info("after the scope")

    first, second = lines(stream)
    assert first["message"] == "registering patient 550e8400-e29b-41d4-a716-446655440000"
    assert first["level"] == "INFO"
    assert first["logger"] == logger.name
    assert first["timestamp"]
    assert first["request_id"] == "req-42"
    assert first["tenant_id"] == str(tenant.id)
    assert [(first["trace_id"], first["span_id"])] == seen
    assert second["tenant_id"] == ""
    assert second["trace_id"] == ""


def test_phi_is_redacted_from_messages_extras_and_exceptions(captured):
    logger, stream = captured

    def view(request: HttpRequest) -> HttpResponse:
        logger.warning(
            "duplicate for %s born %s, call %s",
            "Okafor",
            "1987-03-14",
            "617-555-0142",
            extra={"birth_date": "1987-03-14", "patient": {"family": "Okafor"}, "attempt": 2},
        )
        try:
            raise ValueError("Key (system, value)=(urn:mrn, MRN884213) already exists")
        except ValueError:
            logger.exception("insert failed for adaeze@example.org")
        return HttpResponse("ok")

    request = RequestFactory().post("/api/v1/patients", data=BODY, content_type="application/json")
    PhiValuesMiddleware(view)(request)

    warning, error = lines(stream)
    assert warning["message"] == f"duplicate for {REDACTED} born {REDACTED}, call {REDACTED}"
    assert warning["birth_date"] == REDACTED
    assert warning["patient"] == {"family": REDACTED}
    assert warning["attempt"] == 2
    assert error["message"] == f"insert failed for {REDACTED}"
    assert (
        "ValueError: Key (system, value)=(urn:mrn, [redacted]) already exists"
        in (error["exc_info"])
    )
    everything = stream.getvalue()
    for secret in ("Okafor", "1987-03-14", "MRN884213", "555-0142", "adaeze@"):
        assert secret not in everything, secret


def test_the_text_format_is_readable_and_filtered_the_same(captured):
    logger, _ = captured
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogContextFilter())
    handler.addFilter(PhiRedactingFilter())
    handler.setFormatter(text_formatter())
    logger.addHandler(handler)
    set_request_id("req-7")
    logger.info("born %s", "1987-03-14", extra={"note": "x"})
    logger.removeHandler(handler)
    line = stream.getvalue()
    assert "INFO" in line
    assert "[request_id=req-7 tenant_id= trace_id= span_id=]" in line
    assert line.rstrip().endswith(f"born {REDACTED}")


def test_unformattable_arguments_do_not_break_logging(captured):
    logger, stream = captured
    logger.info("two %s %s", "only-one")  # noqa: PLE1206 - the point of the test
    [line] = lines(stream)
    assert "unformattable arguments" in line["message"]


def test_log_fields_are_the_extras():
    record = logging.LogRecord("x", logging.INFO, "f", 1, "m", None, None)
    record.patient_id = "p-1"
    record.request_id = "r"
    assert log_fields(record) == {"patient_id": "p-1"}


def test_a_malformed_json_body_registers_nothing():
    seen: list[frozenset[str]] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(phi_values_known())
        return HttpResponse("ok")

    request = RequestFactory().post(
        "/api/v1/patients?family=Okafor", data="{not json", content_type="application/json"
    )
    PhiValuesMiddleware(view)(request)
    assert seen == [frozenset({"Okafor"})]


@app.task(name="tests.logs.task_line")
def logs_a_line() -> str:
    import io
    import logging

    from tenancy.logs import LogContextFilter, json_formatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogContextFilter())
    handler.setFormatter(json_formatter())
    logger = logging.getLogger("tests.logs.task")
    logger.propagate = False
    logger.setLevel(logging.INFO)  # an earlier in-thread worker may have set the root to ERROR
    logger.addHandler(handler)
    try:
        logger.warning("inside a task")
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_task_log_lines_carry_the_task_id(celery_worker):
    result = logs_a_line.delay()
    line = json.loads(result.get(timeout=20))
    assert line["request_id"] == result.id
