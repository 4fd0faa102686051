"""The base of every console page that shows tenant data.

Access follows the user's roles in the active tenant (not Django's global model permissions),
rows come through row-level security, and an object of another tenant is a 404 — never a
redirect that would reveal whether it exists. Django's own admin log is not written: it would
copy object names (PHI) into an unscoped table; our AuditEvent trail records the change.
"""

from typing import Any

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponseRedirect

from tenancy.principal import Principal


def request_principal(request: HttpRequest) -> Principal | None:
    """The principal TenantMiddleware resolved for this console request."""
    principal: Principal | None = getattr(request, "principal", None)
    return principal


class TenantScopedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # generic per subclass
    """Role-based console access to one tenant-owned model."""

    view_roles: tuple[str, ...] = ()
    change_roles: tuple[str, ...] = ()

    def _has_role(self, request: HttpRequest, roles: tuple[str, ...]) -> bool:
        principal = request_principal(request)
        return principal is not None and principal.has_any_role(*roles)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._has_role(request, self.view_roles + self.change_roles)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._has_role(request, self.change_roles)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._has_role(request, self.change_roles)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def _get_obj_does_not_exist_redirect(
        self, request: HttpRequest, opts: Any, object_id: str
    ) -> HttpResponseRedirect:
        raise Http404

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> LogEntry | None:  # type: ignore[override]  # nothing logged
        return None

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> LogEntry | None:  # type: ignore[override]  # nothing logged
        return None
