"""Console pages of the outbox: the events this tenant produced and the messages it received."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from outbox.models import InboxMessage, OutboxEvent
from outbox.services.inbox import inbox_redrive
from tenancy.admin_base import TenantScopedAdmin, request_principal
from tenancy.models import Role
from tenancy.modules import CORE


@admin.register(OutboxEvent)
class OutboxEventAdmin(TenantScopedAdmin):
    """Read-only: which events were produced and whether they reached the bus."""

    required_module = CORE
    view_roles = (Role.TENANT_ADMIN, Role.AUDITOR)
    list_display = (
        "id",
        "created_at",
        "event_type",
        "aggregate_type",
        "aggregate_id",
        "status",
        "attempts",
        "published_at",
    )
    list_filter = ("status", "event_type")
    search_fields = ("aggregate_id", "event_id")
    readonly_fields = (
        "event_id",
        "event_type",
        "schema_version",
        "aggregate_type",
        "aggregate_id",
        "shard_key",
        "payload",
        "headers",
        "status",
        "created_at",
        "scheduled_at",
        "attempts",
        "last_error",
        "published_at",
    )
    fields = readonly_fields


@admin.register(InboxMessage)
class InboxMessageAdmin(TenantScopedAdmin):
    """Received messages; tenant administrators re-drive the dead ones.

    The payload is not shown: a received message may carry PHI (e.g. a death notification's
    identifier).
    """

    required_module = CORE
    view_roles = (Role.TENANT_ADMIN,)
    list_display = (
        "id",
        "received_at",
        "sender",
        "event_type",
        "status",
        "attempts",
        "message_id",
    )
    list_filter = ("status", "sender", "event_type")
    search_fields = ("message_id",)
    readonly_fields = (
        "source",
        "message_id",
        "sender",
        "event_type",
        "schema_version",
        "status",
        "attempts",
        "last_error",
        "received_at",
        "processed_at",
    )
    fields = readonly_fields
    actions = ["redrive_selected"]

    def has_redrive_permission(self, request: HttpRequest) -> bool:
        """Only tenant administrators re-drive."""
        return self._has_role(request, (Role.TENANT_ADMIN,))

    @admin.action(description="Re-drive selected dead messages", permissions=["redrive"])
    def redrive_selected(self, request: HttpRequest, queryset: QuerySet[InboxMessage]) -> None:
        """Process the selected dead messages again; report how many succeeded."""
        result = inbox_redrive(
            actor=request_principal(request),
            message_ids=list(queryset.values_list("id", flat=True)),
        )
        level = messages.SUCCESS if not result.still_dead else messages.WARNING
        self.message_user(
            request,
            f"Re-driven: {result.processed} processed, {result.still_dead} still dead.",
            level,
        )
