"""DRF authentication for integrators' API keys (resolved by TenantMiddleware)."""

from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from tenancy.middleware import API_KEY_AUTH_SCHEME
from tenancy.principal import Principal


class ApiKeyUser:
    """The `request.user` of an API-key call: authenticated, but not a console user."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    is_anonymous = False

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.pk = None

    def __str__(self) -> str:
        return self.principal.label


class ApiKeyAuthentication(BaseAuthentication):
    """Accept `Authorization: Api-Key <token>`; a bad key is 401, never anonymous access."""

    def authenticate(self, request: Request) -> tuple[Any, Principal] | None:
        django_request = request._request
        if getattr(django_request, "api_key_rejected", False):
            raise AuthenticationFailed("The API key is invalid or revoked.")
        principal: Principal | None = getattr(django_request, "principal", None)
        if principal is None or principal.api_key_id is None:
            return None
        return ApiKeyUser(principal), principal

    def authenticate_header(self, request: Request) -> str:
        return API_KEY_AUTH_SCHEME
