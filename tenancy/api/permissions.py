"""Role checks for API views: the caller's roles in its tenant decide."""

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from tenancy.principal import Principal


def request_principal(request: Request) -> Principal | None:
    """The principal TenantMiddleware resolved for this request."""
    principal: Principal | None = getattr(request._request, "principal", None)
    return principal


class HasTenantRole(BasePermission):
    """Allow callers holding one of the view's roles in their active tenant.

    A view lists `allowed_roles`; a view whose writes need other roles than its reads also
    lists `write_roles`, used for every unsafe method.
    """

    message = "Your role in this tenant does not allow this action."

    def has_permission(self, request: Request, view: APIView) -> bool:
        principal = request_principal(request)
        if principal is None:
            return False
        allowed: Any = getattr(view, "allowed_roles", ())
        if request.method not in SAFE_METHODS and hasattr(view, "write_roles"):
            allowed = view.write_roles
        return principal.has_any_role(*allowed)
