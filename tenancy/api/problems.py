"""RFC 9457 problem+json: the one shape of every REST error.

`type` is a stable URI per error code, `instance` the request id (so a caller can quote it to
support), `errors` the field-level list for validation failures. Nothing here echoes input
values back, so no PHI leaves through an error.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions as drf
from rest_framework import serializers
from rest_framework.response import Response

from tenancy.errors import DomainError, FieldError

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_body(
    *,
    code: str,
    title: str,
    status: int,
    detail: str,
    request_id: str,
    errors: list[FieldError] | None = None,
) -> dict[str, Any]:
    """Build the problem document."""
    body: dict[str, Any] = {
        "type": f"{settings.PROBLEM_TYPE_BASE}{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": f"urn:request:{request_id}" if request_id else "",
        "code": code,
    }
    if errors:
        body["errors"] = [{"field": e.field, "code": e.code, "message": e.message} for e in errors]
    return body


def _flatten(detail: Any, path: str = "") -> list[FieldError]:
    """DRF's nested ValidationError detail as a flat list of field errors."""
    if isinstance(detail, dict):
        return [e for key, value in detail.items() for e in _flatten(value, _join(path, key))]
    if isinstance(detail, list):
        if all(isinstance(item, drf.ErrorDetail) for item in detail):
            return [
                FieldError(path or "non_field_errors", item.code or "invalid", str(item))
                for item in detail
            ]
        return [
            e for index, item in enumerate(detail) for e in _flatten(item, _join(path, str(index)))
        ]
    code = getattr(detail, "code", "invalid")
    return [FieldError(path or "non_field_errors", code or "invalid", str(detail))]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


_DRF_CODES: dict[type[drf.APIException], tuple[str, str]] = {
    drf.NotAuthenticated: ("not-authenticated", "Authentication required"),
    drf.AuthenticationFailed: ("authentication-failed", "Authentication failed"),
    drf.PermissionDenied: ("forbidden", "Forbidden"),
    drf.NotFound: ("not-found", "Not found"),
    drf.MethodNotAllowed: ("method-not-allowed", "Method not allowed"),
    drf.NotAcceptable: ("not-acceptable", "Not acceptable"),
    drf.UnsupportedMediaType: ("unsupported-media-type", "Unsupported media type"),
    drf.ParseError: ("malformed-request", "Malformed request"),
    drf.Throttled: ("throttled", "Too many requests"),
}


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: render every known error as problem+json."""
    request = context.get("request")
    request_id = getattr(getattr(request, "_request", None), "request_id", "")
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        body = problem_body(
            code=exc.code,
            title=exc.title,
            status=exc.status,
            detail=exc.detail,
            request_id=request_id,
            errors=exc.errors,
        )
        body.update(exc.extensions())
    elif isinstance(exc, Http404):
        body = problem_body(
            code="not-found",
            title="Not found",
            status=404,
            detail="Not found.",
            request_id=request_id,
        )
    elif isinstance(exc, DjangoPermissionDenied):
        body = problem_body(
            code="forbidden",
            title="Forbidden",
            status=403,
            detail="Forbidden.",
            request_id=request_id,
        )
    elif isinstance(exc, drf.ValidationError):
        body = problem_body(
            code="invalid-request",
            title="Invalid request",
            status=400,
            detail="The request has invalid fields.",
            request_id=request_id,
            errors=_flatten(exc.detail),
        )
    elif isinstance(exc, drf.APIException):
        code, title = next(
            (v for k, v in _DRF_CODES.items() if isinstance(exc, k)),
            (str(exc.default_code).replace("_", "-"), "Request failed"),
        )
        body = problem_body(
            code=code,
            title=title,
            status=exc.status_code,
            detail=str(exc.detail),
            request_id=request_id,
        )
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = str(exc.auth_header)  # type: ignore[attr-defined]
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    else:
        return None
    return Response(body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE, headers=headers)


def problem_response(
    request: HttpRequest, *, code: str, title: str, status: int, detail: str
) -> JsonResponse:
    """A problem+json response outside DRF (Django's 404/500 handlers, health checks)."""
    body = problem_body(
        code=code,
        title=title,
        status=status,
        detail=detail,
        request_id=getattr(request, "request_id", ""),
    )
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


class FieldErrorSerializer(serializers.Serializer[Any]):
    """One invalid field of a request."""

    field = serializers.CharField(help_text="Path of the field, e.g. `names.0.family`.")
    code = serializers.CharField()
    message = serializers.CharField()


class ProblemSerializer(serializers.Serializer[Any]):
    """RFC 9457 problem details, as every error of this API is rendered."""

    type = serializers.URLField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    instance = serializers.CharField(help_text="`urn:request:<id>`; quote it to support.")
    code = serializers.CharField(help_text="Stable error code (the last segment of `type`).")
    # DRF pops declared fields from the class, so this does not shadow Serializer.errors.
    errors = FieldErrorSerializer(many=True, required=False)  # type: ignore[assignment]
    candidates = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="Likely duplicates (409)."
    )


_PROBLEM_DESCRIPTIONS = {
    400: "The request does not match the schema (see `errors`).",
    401: "No valid credentials.",
    403: "The caller's role does not allow this.",
    404: "No such object in the caller's tenant.",
    406: "The Accept header asks for a representation this endpoint does not serve.",
    409: "Conflicts with the current state (likely duplicate, identifier in use, inactive).",
    412: "If-Match does not match the current version.",
    413: "The upload is larger than the configured limit.",
    415: "The body's Content-Type is not accepted here.",
    422: "Well-formed, but breaks a domain rule (see `errors`).",
    428: "If-Match is required.",
    503: "A dependency is unavailable (e.g. no portrait key configured); retry later.",
}


def problem_responses(*statuses: int) -> dict[tuple[int, str], OpenApiResponse]:
    """OpenAPI responses for the given error statuses, all as application/problem+json."""
    return {
        (status, PROBLEM_CONTENT_TYPE): OpenApiResponse(
            response=ProblemSerializer, description=_PROBLEM_DESCRIPTIONS[status]
        )
        for status in statuses
    }
