"""problem+json rendering of every error kind (no database needed)."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf

from tenancy.api.problems import problem_exception_handler
from tenancy.errors import FieldError, NotFoundError, PreconditionFailedError, ValidationFailedError


class _DjangoRequest:
    request_id = "req-1"


class _Req:
    _request = _DjangoRequest()


def render(exc):
    response = problem_exception_handler(exc, {"request": _Req()})
    assert response is not None
    assert response.content_type == "application/problem+json"
    return response


def test_domain_error_with_field_errors():
    exc = ValidationFailedError(
        "bad", errors=[FieldError("birth_date", "future", "In the future.")]
    )
    response = render(exc)
    assert response.status_code == 422
    assert response.data == {
        "type": "https://regsvc.example/problems/validation-error",
        "title": "Invalid input",
        "status": 422,
        "detail": "bad",
        "instance": "urn:request:req-1",
        "code": "validation-error",
        "errors": [{"field": "birth_date", "code": "future", "message": "In the future."}],
    }


def test_domain_error_statuses():
    assert render(NotFoundError()).status_code == 404
    assert render(PreconditionFailedError()).data["code"] == "precondition-failed"


def test_drf_validation_error_is_flattened_with_paths():
    exc = drf.ValidationError({"name": [{"given": ["Required."]}], "gender": ["Unknown code."]})
    data = render(exc).data
    assert data["status"] == 400
    assert {(e["field"], e["message"]) for e in data["errors"]} == {
        ("name.0.given", "Required."),
        ("gender", "Unknown code."),
    }


def test_drf_validation_error_without_field():
    data = render(drf.ValidationError("Whole body is wrong.")).data
    assert data["errors"] == [
        {"field": "non_field_errors", "code": "invalid", "message": "Whole body is wrong."}
    ]


def test_django_errors():
    assert render(Http404()).data["code"] == "not-found"
    assert render(PermissionDenied()).status_code == 403


def test_drf_exceptions_keep_their_status_and_headers():
    exc = drf.NotAuthenticated()
    exc.auth_header = "Api-Key"  # type: ignore[attr-defined]  # DRF sets it the same way
    response = render(exc)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    throttled = render(drf.Throttled(wait=7))
    assert throttled.status_code == 429
    assert throttled["Retry-After"] == "7"
    assert render(drf.MethodNotAllowed("DELETE")).data["code"] == "method-not-allowed"


def test_unknown_api_exception_gets_code_from_default_code():
    class Teapot(drf.APIException):
        status_code = 418
        default_code = "short_and_stout"

    assert render(Teapot()).data["code"] == "short-and-stout"


def test_unexpected_exception_is_left_to_the_500_handler():
    assert problem_exception_handler(RuntimeError("boom"), {"request": _Req()}) is None
