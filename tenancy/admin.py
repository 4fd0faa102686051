"""Console pages of the kernel: audit trail, API keys, members, entitlements, tenants."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from tenancy.admin_base import TenantScopedAdmin, request_principal
from tenancy.models import ApiKey, AuditEvent, Membership, ModuleEntitlement, Role, Tenant
from tenancy.services.credentials import api_key_create, api_key_revoke


@admin.register(AuditEvent)
class AuditEventAdmin(TenantScopedAdmin):
    """Read-only audit trail for auditors and tenant administrators."""

    view_roles = (Role.AUDITOR, Role.TENANT_ADMIN)
    list_display = (
        "id",
        "occurred_at",
        "action",
        "object_type",
        "object_id",
        "actor_user_id",
        "actor_api_key_id",
    )
    list_filter = ("action", "object_type")
    search_fields = ("object_id", "request_id")
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


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    """Tenant administrators issue and revoke integrators' keys."""

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

    view_roles = (Role.TENANT_ADMIN,)
    list_display = ("user", "role", "created_at")
    list_filter = ("role",)
    readonly_fields = ("user", "role", "created_at")
    fields = readonly_fields


@admin.register(ModuleEntitlement)
class ModuleEntitlementAdmin(TenantScopedAdmin):
    """The modules this tenant has licensed and for how long."""

    view_roles = (Role.TENANT_ADMIN,)
    list_display = ("module", "valid_from", "valid_until")
    readonly_fields = ("module", "valid_from", "valid_until")
    fields = readonly_fields


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # Tenant has no tenant scope
    """Platform operators (superusers) see the tenant list; nobody else does."""

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
