"""The base of every console page that shows tenant data.

Access follows the user's roles in the active tenant (not Django's global model permissions),
rows come through row-level security, and an object of another tenant is a 404 — never a
redirect that would reveal whether it exists. Django's own admin log is not written: it would
copy object names (PHI) into an unscoped table; our AuditEvent trail records the change.

Every page belongs to a module (`required_module`): when the active tenant has not licensed it,
the page is missing from the console's menus and every one of its URLs answers 403 naming the
module.
"""

from functools import wraps
from typing import Any

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern

from tenancy.modules import CORE, is_declarable
from tenancy.principal import Principal
from tenancy.selectors.entitlements import module_entitled


def request_principal(request: HttpRequest) -> Principal | None:
    """The principal TenantMiddleware resolved for this console request."""
    principal: Principal | None = getattr(request, "principal", None)
    return principal


def module_refusal(module: str) -> PermissionDenied:
    """The 403 of a console page whose module is not licensed (rendered by templates/403.html)."""
    return PermissionDenied(f"This tenant has not licensed the module '{module}'.")


class ConsoleAdminSite(admin.AdminSite):
    """The console: Django's admin site, whose own pages (index, login, …) are kernel pages."""

    required_module = CORE


class TenantScopedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # generic per subclass
    """Role-based console access to one tenant-owned model of one licensed module."""

    required_module: str = ""
    view_roles: tuple[str, ...] = ()
    change_roles: tuple[str, ...] = ()

    def module_licensed(self, request: HttpRequest) -> bool:
        """The active tenant may use this page's module (a page declaring none: never)."""
        if not is_declarable(self.required_module):
            return False
        return request_principal(request) is not None and module_entitled(self.required_module)

    def _has_role(self, request: HttpRequest, roles: tuple[str, ...]) -> bool:
        principal = request_principal(request)
        return (
            principal is not None
            and principal.has_any_role(*roles)
            and self.module_licensed(request)
        )

    @property
    def urls(self) -> list[URLPattern]:
        """Every URL of this page, each refusing (403) while the module is not licensed."""
        return [self._guarded(pattern) for pattern in self.get_urls()]

    def _guarded(self, pattern: URLPattern) -> URLPattern:
        view = pattern.callback

        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            # Anonymous users fall through to the admin's login redirect.
            if request_principal(request) is not None and not self.module_licensed(request):
                raise module_refusal(self.required_module or "(none declared)")
            response: HttpResponse = view(request, *args, **kwargs)
            return response

        guarded.model_admin = self  # type: ignore[attr-defined]  # read by the module walk
        return URLPattern(pattern.pattern, guarded, pattern.default_args, pattern.name)

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
