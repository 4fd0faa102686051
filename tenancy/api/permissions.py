"""Permission checks for API views: the view's module must be licensed to the caller's tenant,
then the caller's roles in that tenant decide."""

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from tenancy.errors import PermissionDeniedError
from tenancy.modules import ALWAYS_ON, is_declarable
from tenancy.principal import Principal
from tenancy.selectors.entitlements import require_module


def request_principal(request: Request) -> Principal | None:
    """The principal TenantMiddleware resolved for this request."""
    principal: Principal | None = getattr(request._request, "principal", None)
    return principal


class ModuleEntitled(BasePermission):
    """Allow only when the caller's tenant has licensed the view's `required_module`.

    An unlicensed module raises ModuleNotLicensedError (403 problem+json naming the module;
    the FHIR layer renders it as OperationOutcome `forbidden`), before any data is read. A view
    that declares no valid module is refused (fail closed); tests/integration/
    test_module_guard.py makes that a test failure first.
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        module: Any = getattr(view, "required_module", None)
        if not is_declarable(module):
            raise PermissionDeniedError("This endpoint declares no module.")
        if module in ALWAYS_ON:
            return True
        if request_principal(request) is None:
            return False  # unauthenticated: DRF answers 401
        require_module(module)
        return True


class HasTenantRole(ModuleEntitled):
    """Module licensed, and the caller holds one of the view's roles in its active tenant.

    A view lists `allowed_roles`; a view whose writes need other roles than its reads also
    lists `write_roles`, used for every unsafe method.
    """

    message = "Your role in this tenant does not allow this action."

    def has_permission(self, request: Request, view: APIView) -> bool:
        principal = request_principal(request)
        if principal is None:
            return False
        if not super().has_permission(request, view):
            return False
        allowed: Any = getattr(view, "allowed_roles", ())
        if request.method not in SAFE_METHODS and hasattr(view, "write_roles"):
            allowed = view.write_roles
        return principal.has_any_role(*allowed)
