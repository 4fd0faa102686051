"""Request wiring: a request id for correlation, then the tenant transaction.

TenantMiddleware resolves the caller's tenant (API key, else the session's active tenant) and
runs the rest of the request inside `tenant_scope`, so every query the view makes is filtered
by row-level security. Requests with no tenant run with none set, and read nothing.
"""

import json
import re
import time
import uuid
from collections.abc import Callable

from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.http import HttpRequest, HttpResponse

from tenancy.db import tenant_scope
from tenancy.metrics import http_request_observe, route_label
from tenancy.phi import phi_values_from, phi_values_register, phi_values_reset
from tenancy.principal import Principal, set_request_id
from tenancy.selectors.access import user_tenant_roles
from tenancy.selectors.entitlements import entitlement_cache
from tenancy.services.credentials import api_key_authenticate

ACTIVE_TENANT_SESSION_KEY = "active_tenant_id"
_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
API_KEY_AUTH_SCHEME = "Api-Key"  # pragma: allowlist secret
# Request bodies up to this size are read for the PHI values to redact from logs and spans.
PHI_SCAN_MAX_BYTES = 1_000_000


class MetricsMiddleware:
    """Time every request for `http_request_duration_seconds` / `http_requests_total`.

    Outermost, so the time includes every other middleware. The `route` label is the URL
    pattern that matched (never the raw path, which holds ids), `<unmatched>` for a 404 that
    matched none.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        http_request_observe(
            route=route_label(request.resolver_match),
            method=request.method or "",
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
        return response


class PhiValuesMiddleware:
    """Remember the PHI values a request carries (search criteria, a registration's names,
    birth date, identifiers, telecoms, addresses) so that the log and span filters redact them
    wherever they reappear during the request (`tenancy.phi`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        phi_values_reset()
        phi_values_register(phi_values_from({k: request.GET.getlist(k) for k in request.GET}))
        if (
            request.method in {"POST", "PUT", "PATCH"}
            and "json" in (request.content_type or "")
            and int(request.META.get("CONTENT_LENGTH") or 0) <= PHI_SCAN_MAX_BYTES
        ):
            try:
                body = json.loads(request.body or b"null")
            except (ValueError, RecursionError):  # not JSON, or nested beyond reason
                body = None
            phi_values_register(phi_values_from(body))
        return self.get_response(request)


class RequestIdMiddleware:
    """Give every request an id (the caller's X-Request-ID when well-formed) and echo it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _REQUEST_ID_PATTERN.match(supplied) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]  # request annotation
        set_request_id(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def _principal_from_api_key(request: HttpRequest) -> Principal | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme != API_KEY_AUTH_SCHEME:
        return None
    principal = api_key_authenticate(token=token.strip())
    if principal is None:
        request.api_key_rejected = True  # type: ignore[attr-defined]  # read by DRF auth
    return principal


def _principal_from_session(request: HttpRequest) -> Principal | None:
    user = getattr(request, "user", AnonymousUser())
    if not user.is_authenticated or not user.is_active or user.pk is None:
        return None
    user_id = int(user.pk)
    memberships = user_tenant_roles(user_id=user_id)
    if not memberships:
        return None
    chosen = request.session.get(ACTIVE_TENANT_SESSION_KEY)
    tenant_id = next((t for t in memberships if str(t) == chosen), None)
    if tenant_id is None:
        tenant_id = min(memberships, key=str)
        request.session[ACTIVE_TENANT_SESSION_KEY] = str(tenant_id)
    return Principal(tenant_id=tenant_id, roles=memberships[tenant_id], user_id=user_id)


def resolve_principal(request: HttpRequest) -> Principal | None:
    """Who is calling and in which tenant; an API key wins over a session."""
    if "Authorization" in request.headers:
        return _principal_from_api_key(request)
    return _principal_from_session(request)


class TenantMiddleware:
    """Run each request inside its caller's tenant scope (one transaction)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        principal = resolve_principal(request)
        request.principal = principal  # type: ignore[attr-defined]  # request annotation
        if principal is None:
            return self.get_response(request)
        with tenant_scope(principal.tenant_id), entitlement_cache():
            response = self.get_response(request)
            if response.status_code >= 500:
                # Django turned an exception into a response; keep nothing it half-wrote.
                transaction.set_rollback(True)
        return response
