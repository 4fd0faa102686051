"""Structured logs: context on every line, PHI redacted, JSON in production.

Configured by `settings.LOGGING` (see config/settings.py): the console handler runs
`LogContextFilter` (request id, tenant id, trace id, span id) and `PhiRedactingFilter` on every
record, whichever logger it came from, then formats it as one JSON object per line
(`LOG_FORMAT=json`, python-json-logger) or as readable text (`LOG_FORMAT=text`, local default).
Importing this module must not touch Django's app registry: logging is configured before the
apps are ready.
"""

import logging
from typing import Any

from celery import current_task
from pythonjsonlogger.json import JsonFormatter

from tenancy.db import current_tenant_id_or_none
from tenancy.phi import redact_text, redact_value
from tenancy.request_context import current_request_id
from tenancy.tracing import current_trace_ids

CONTEXT_FIELDS = ("request_id", "tenant_id", "trace_id", "span_id")
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))
) | {"message", "asctime", "taskName", *CONTEXT_FIELDS}
_exception_formatter = logging.Formatter()


class LogContextFilter(logging.Filter):
    """Add the request id, tenant id, trace id and span id of the running work to a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Never drops a record; fields given explicitly (`extra=`) are kept."""
        trace_id, span_id = current_trace_ids()
        tenant_id = current_tenant_id_or_none()
        values = {
            "request_id": current_request_id() or _celery_task_id(),
            "tenant_id": str(tenant_id) if tenant_id is not None else "",
            "trace_id": trace_id,
            "span_id": span_id,
        }
        for name, value in values.items():
            if not getattr(record, name, ""):
                setattr(record, name, value)
        return True


def _celery_task_id() -> str:
    """Inside a Celery task, its id stands in for the request id."""
    task = current_task
    if not task:
        return ""
    return str(getattr(task.request, "id", "") or "")


class PhiRedactingFilter(logging.Filter):
    """Redact PHI from a record's message, extra fields, exception and stack texts.

    The message is formatted first (`%s` arguments included) and replaced by its redacted
    text; an exception is formatted and redacted into `exc_text` (its `exc_info` dropped, so no
    later handler formats the raw one); each extra field is redacted by key and by content
    (`tenancy.phi`). The record is changed in place, for every handler after this one too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Never drops a record."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format
            message = f"{record.msg!s} (unformattable arguments)"
        record.msg, record.args = redact_text(message), None
        if record.exc_info:
            record.exc_text = _exception_formatter.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRIBUTES:
                setattr(record, key, redact_value(key, value))
        return True


def json_formatter() -> logging.Formatter:
    """One JSON object per line: timestamp, level, logger, message, the context fields, the
    record's extra fields, and `exc_info` (the redacted traceback) when there is one."""
    return JsonFormatter(
        ["asctime", "levelname", "name", "message", *CONTEXT_FIELDS],
        rename_fields={"asctime": "timestamp", "levelname": "level", "name": "logger"},
        defaults=dict.fromkeys(CONTEXT_FIELDS, ""),
    )


def text_formatter() -> logging.Formatter:
    """Readable lines for local work, with the same context fields."""
    return logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s "
        "[request_id=%(request_id)s tenant_id=%(tenant_id)s trace_id=%(trace_id)s "
        "span_id=%(span_id)s] %(message)s",
        defaults=dict.fromkeys(CONTEXT_FIELDS, ""),
    )


def log_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The extra fields of a record (what the JSON formatter adds beyond the fixed ones)."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES}
