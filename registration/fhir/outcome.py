"""Every FHIR error as an OperationOutcome: severity, issue type code, safe diagnostics.

Diagnostics carry the DomainError `detail` (written never to hold PHI) and field paths in
FHIRPath form, never submitted values. A 500 carries the request id to quote to support.
"""

import logging
import re
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response

from tenancy.errors import DomainError, FieldError

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"

# DomainError.code -> OperationOutcome issue type (http://hl7.org/fhir/issue-type).
_ISSUE_TYPES = {
    "structure": "structure",
    "invalid-request": "invalid",
    "not-supported": "not-supported",
    "validation-error": "invariant",
    "not-found": "not-found",
    "gone": "deleted",
    "forbidden": "forbidden",
    "module-not-licensed": "forbidden",
    "restricted-patient": "forbidden",
    "read-only-element": "business-rule",
    "duplicate-suspected": "duplicate",
    "deceased-duplicate": "duplicate",
    "identifier-conflict": "duplicate",
    "precondition-failed": "conflict",
    "precondition-required": "required",
    "not-authenticated": "login",
    "authentication-failed": "login",
    "method-not-allowed": "not-supported",
    "not-acceptable": "not-supported",
    "unsupported-media-type": "not-supported",
    "malformed-request": "structure",
    "throttled": "throttled",
    "code-invalid": "code-invalid",
}
_STATUS_TYPES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    422: "processing",
    428: "required",
}

_REST_FIELDS = {
    "names": "name",
    "identifiers": "identifier",
    "telecoms": "telecom",
    "addresses": "address",
    "contacts": "contact",
    "birth_date": "birthDate",
    "marital_status": "maritalStatus",
    "language": "communication",
    "postal_code": "postalCode",
    "type_code": "type",
    "lines": "line",
    "period_start": "period.start",
    "period_end": "period.end",
    "relationship": "relationship",
}


def fhir_path(field: str) -> str:
    """`names.0.family` (a service's field path) as `Patient.name[0].family`."""
    if field.startswith(("Patient", "Parameters", "Bundle")):
        return field
    parts: list[str] = []
    for part in field.split("."):
        if part.isdigit() and parts:
            parts[-1] = f"{parts[-1]}[{part}]"
        else:
            parts.append(_REST_FIELDS.get(part, part))
    return "Patient." + ".".join(parts) if parts else "Patient"


def issue(
    severity: str, code: str, diagnostics: str, expression: list[str] | None = None
) -> dict[str, Any]:
    """One OperationOutcome issue."""
    body: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        body["expression"] = expression
    return body


def operation_outcome(issues: list[dict[str, Any]]) -> dict[str, Any]:
    """An OperationOutcome resource."""
    return {"resourceType": "OperationOutcome", "issue": issues}


def _safe_extensions(exc: DomainError) -> str:
    """Scalar extension members (e.g. the unlicensed module); lists of records never."""
    scalars = [
        f"{key}={value}"
        for key, value in sorted(exc.extensions().items())
        if isinstance(value, str | int) and not isinstance(value, bool)
    ]
    return f" ({', '.join(scalars)})" if scalars else ""


def domain_error_outcome(exc: DomainError) -> dict[str, Any]:
    """The OperationOutcome of a service's error."""
    code = _ISSUE_TYPES.get(exc.code, _STATUS_TYPES.get(exc.status, "processing"))
    issues = [issue("error", code, exc.detail + _safe_extensions(exc))]
    issues.extend(_field_issue(code, error) for error in exc.errors)
    candidates = exc.extensions().get("candidates")
    if isinstance(candidates, list):
        issues.extend(
            issue("information", "duplicate", f"Candidate Patient/{c['patient_id']}")
            for c in candidates
            if isinstance(c, dict) and "patient_id" in c
        )
    return operation_outcome(issues)


def _field_issue(code: str, error: FieldError) -> dict[str, Any]:
    return issue("error", code, f"{error.code}: {error.message}", [fhir_path(error.field)])


def _drf_fields(detail: Any, path: str = "") -> list[FieldError]:
    if isinstance(detail, dict):
        return [
            e
            for key, value in detail.items()
            for e in _drf_fields(value, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(detail, list):
        return [e for item in detail for e in _drf_fields(item, path)]
    return [FieldError(path or "request", str(getattr(detail, "code", "invalid")), str(detail))]


def _drf_outcome(exc: drf.APIException) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers: dict[str, str] = {}
    status = exc.status_code
    code = _STATUS_TYPES.get(status, "processing")
    if isinstance(exc, drf.ValidationError):
        issues = [issue("error", "invalid", "The request is invalid.")]
        issues.extend(
            issue("error", "invalid", f"{e.code}: {e.message}", [e.field])
            for e in _drf_fields(exc.detail)
        )
        return status, operation_outcome(issues), headers
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        code = "login"
        challenge = getattr(exc, "auth_header", None)  # set by DRF from the authenticator
        if challenge:
            headers["WWW-Authenticate"] = str(challenge)
    elif isinstance(exc, drf.MethodNotAllowed | drf.NotAcceptable | drf.UnsupportedMediaType):
        code = "not-supported"
    elif isinstance(exc, drf.ParseError):
        code = "structure"
    elif isinstance(exc, drf.Throttled):
        code = "throttled"
    return status, operation_outcome([issue("error", code, str(exc.detail))]), headers


# A path of an unexpected exception is safe, its message may not be: log the type only.
_SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def internal_error_outcome(request_id: str) -> dict[str, Any]:
    """The OperationOutcome of an unexpected error: the id to quote, nothing else."""
    return operation_outcome(
        [
            issue(
                "fatal",
                "exception",
                f"An unexpected error occurred; quote correlation id {request_id} to support.",
            )
        ]
    )


def fhir_error_response(exc: Exception, request_id: str) -> Response:
    """Any exception of a FHIR view as an OperationOutcome response with its status."""
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        status, body = exc.status, domain_error_outcome(exc)
    elif isinstance(exc, Http404):
        status, body = 404, operation_outcome([issue("error", "not-found", "Not found.")])
    elif isinstance(exc, DjangoPermissionDenied):
        status, body = 403, operation_outcome([issue("error", "forbidden", "Forbidden.")])
    elif isinstance(exc, drf.APIException):
        status, body, headers = _drf_outcome(exc)
    else:
        name = type(exc).__name__
        logger.exception(
            "FHIR request failed", extra={"error_type": name if _SAFE.match(name) else "?"}
        )
        status, body = 500, internal_error_outcome(request_id)
    return Response(body, status=status, headers=headers, content_type=FHIR_JSON)
