"""Console pages of the kernel: audit trail, API keys, members, entitlements, tenants."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path

from tenancy.admin_base import TenantScopedAdmin, request_principal
from tenancy.db import tenant_scope
from tenancy.errors import DomainError
from tenancy.models import ApiKey, AuditEvent, Membership, ModuleEntitlement, Role, Tenant
from tenancy.modules import CORE, licensable_modules
from tenancy.selectors.audit import audit_events_csv
from tenancy.selectors.members import tenant_member_names
from tenancy.services.audit import audit_record
from tenancy.services.credentials import api_key_create, api_key_revoke
from tenancy.services.entitlements import module_entitlement_end, module_entitlement_grant


class BreakGlassFilter(admin.SimpleListFilter):
    """Rows written under or about a break-glass grant (details say `break_glass: true`)."""

    title = "break-glass"
    parameter_name = "break_glass"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Break-glass only"), ("no", "Without break-glass")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> Any:
        if self.value() == "yes":
            return queryset.filter(details__break_glass=True)
        if self.value() == "no":
            return queryset.exclude(details__break_glass=True)
        return queryset


class ActorFilter(admin.SimpleListFilter):
    """Rows by one member of this tenant."""

    title = "user"
    parameter_name = "actor"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(user_id), name) for user_id, name in tenant_member_names().items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> Any:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(actor_user_id=int(value))
        return queryset


@admin.register(AuditEvent)
class AuditEventAdmin(TenantScopedAdmin):
    """The audit viewer: auditors and tenant administrators read and export, nobody edits.

    Filters: user, action, object type, time (date drill-down, or `occurred_at__gte` /
    `occurred_at__lt` in the URL), break-glass; the search box and `?object_id=` find one
    patient's rows. "Export CSV" streams exactly the filtered rows.
    """

    required_module = CORE
    view_roles = (Role.AUDITOR, Role.TENANT_ADMIN)
    change_list_template = "admin/tenancy/auditevent/change_list.html"
    date_hierarchy = "occurred_at"
    list_display = (
        "id",
        "occurred_at",
        "action",
        "object_type",
        "object_id",
        "actor_user_id",
        "actor_api_key_id",
    )
    list_filter = (
        ActorFilter,
        "action",
        "object_type",
        BreakGlassFilter,
        ("occurred_at", admin.DateFieldListFilter),
    )
    search_fields = ("=object_id", "=request_id")
    readonly_fields = (
        "id",
        "occurred_at",
        "action",
        "object_type",
        "object_id",
        "actor_user",
        "actor_api_key",
        "request_id",
        "details",
    )
    fields = readonly_fields
    list_select_related = False
    FREE_LOOKUPS = frozenset({"object_id", "occurred_at__gte", "occurred_at__lt"})

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """A patient's rows (`object_id`) and a time range may be asked for in the URL."""
        return lookup in self.FREE_LOOKUPS or super().lookup_allowed(lookup, value, request)

    def get_urls(self) -> list[URLPattern]:
        """The changelist's pages plus `export/` (CSV of the filtered rows)."""
        name = f"{self.opts.app_label}_{self.opts.model_name}_export"
        return [
            path("export/", self.admin_site.admin_view(self.export_view), name=name),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """Stream the rows the changelist's filters select, as CSV (audited)."""
        principal = request_principal(request)
        if principal is None or not self.has_view_permission(request):
            raise PermissionDenied
        events = self.get_changelist_instance(request).get_queryset(request)
        audit_record(
            actor=principal,
            action="audit.exported",
            object_type="audit",
            details={"filters": sorted(request.GET.keys())},
        )
        tenant_id = principal.tenant_id

        def rows() -> Iterator[str]:
            # The body is sent after the request's tenant transaction ends: read in a new one.
            with tenant_scope(tenant_id):
                yield from audit_events_csv(events)

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="audit-events.csv"'
        return response


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    """Tenant administrators issue and revoke integrators' keys."""

    required_module = CORE
    change_roles = (Role.TENANT_ADMIN,)
    list_display = ("name", "prefix", "role", "created_at", "last_used_at", "revoked_at")
    fields = ("name", "role")
    actions = ["revoke_selected"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: ApiKey | None = None
    ) -> tuple[str, ...]:
        if obj is None:
            return ()
        return ("name", "role", "prefix", "created_at", "last_used_at", "revoked_at")

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("name", "role")
        return self.get_readonly_fields(request, obj)

    def save_model(
        self, request: HttpRequest, obj: ApiKey, form: ModelForm[ApiKey], change: bool
    ) -> None:
        if change:
            return
        issued = api_key_create(actor=request_principal(request), name=obj.name, role=obj.role)
        obj.pk = issued.api_key.pk
        obj.prefix = issued.api_key.prefix
        messages.warning(
            request,
            f"Copy the new key now; it is shown only once: {issued.token}",
        )

    @admin.action(description="Revoke selected API keys")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            api_key_revoke(actor=request_principal(request), api_key_id=api_key.id)
        messages.success(request, "Revoked.")


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    """Who holds which role in this tenant (read-only here)."""

    required_module = CORE
    view_roles = (Role.TENANT_ADMIN,)
    list_display = ("user", "role", "created_at")
    list_filter = ("role",)
    readonly_fields = ("user", "role", "created_at")
    fields = readonly_fields


class EntitlementForm(forms.ModelForm):  # type: ignore[type-arg]  # ModelForm generic
    """A new window: a module from the registry, when it starts and (optionally) ends."""

    module = forms.ChoiceField(choices=())

    class Meta:
        model = ModuleEntitlement
        fields = ("module", "valid_from", "valid_until")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["module"].choices = list(licensable_modules().items())  # type: ignore[attr-defined]  # ChoiceField
        self.fields["valid_from"].required = False


@admin.register(ModuleEntitlement)
class ModuleEntitlementAdmin(TenantScopedAdmin):
    """The modules this tenant has licensed and for how long; tenant administrators grant a
    window or end one now (through tenancy.services.entitlements, audited)."""

    required_module = CORE
    change_roles = (Role.TENANT_ADMIN,)
    list_display = ("module", "valid_from", "valid_until")
    form = EntitlementForm
    actions = ["end_selected"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Windows are not edited in place: they are granted, or ended by the action."""
        return obj is None and super().has_change_permission(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("module", "valid_from", "valid_until") if obj is not None else ()

    def save_model(
        self,
        request: HttpRequest,
        obj: ModuleEntitlement,
        form: ModelForm[ModuleEntitlement],
        change: bool,
    ) -> None:
        if change:
            return
        try:
            saved = module_entitlement_grant(
                actor=request_principal(request),
                module=obj.module,
                valid_from=obj.valid_from,
                valid_until=obj.valid_until,
            )
        except DomainError as exc:
            messages.error(request, exc.detail)
            return
        obj.pk = saved.pk

    @admin.action(description="End selected entitlements now", permissions=["change"])
    def end_selected(self, request: HttpRequest, queryset: QuerySet[ModuleEntitlement]) -> None:
        for entitlement in queryset:
            try:
                module_entitlement_end(
                    actor=request_principal(request), entitlement_id=entitlement.id
                )
            except DomainError as exc:
                messages.error(request, f"{entitlement.module}: {exc.detail}")
        messages.success(request, "Ended.")


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # Tenant has no tenant scope
    """Platform operators (superusers) see the tenant list; nobody else does."""

    required_module = CORE
    list_display = ("name", "slug", "is_active", "created_at")
    readonly_fields = ("id", "created_at")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# Django's user and group pages are platform pages (superusers): re-registered to declare it.
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class PlatformUserAdmin(UserAdmin):  # type: ignore[type-arg]  # generic per model
    """Django's user admin, a platform page (superusers only by Django's model permissions)."""

    required_module = CORE


@admin.register(Group)
class PlatformGroupAdmin(GroupAdmin):
    """Django's group admin, a platform page."""

    required_module = CORE
