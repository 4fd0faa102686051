"""Audit trail reads for auditors and tenant administrators."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenancy.api.fields import StrictCharField
from tenancy.api.pagination import CursorQuerySerializer, StrictCursorPagination, cursor_page_of
from tenancy.api.permissions import HasTenantRole
from tenancy.api.problems import problem_responses
from tenancy.models import Role
from tenancy.modules import CORE
from tenancy.selectors.audit import audit_event_get, audit_event_list


class AuditEventOutput(serializers.Serializer[object]):
    """One audit row as the API shows it."""

    id = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    actor_user_id = serializers.IntegerField(allow_null=True)
    actor_api_key_id = serializers.UUIDField(allow_null=True)
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    request_id = serializers.CharField()
    details = serializers.JSONField()


class AuditCursorPagination(StrictCursorPagination):
    """Stable paging over an append-only, id-ordered table."""

    ordering = "-id"
    page_size = 50


class AuditFilterInput(CursorQuerySerializer):
    """Query parameters of the audit list."""

    object_type = StrictCharField(required=False, max_length=64)
    object_id = StrictCharField(required=False, max_length=64)
    action = StrictCharField(required=False, max_length=64)
    actor_user_id = serializers.IntegerField(required=False, min_value=1)
    occurred_from = serializers.DateTimeField(required=False, help_text="Inclusive.")
    occurred_until = serializers.DateTimeField(required=False, help_text="Exclusive.")
    break_glass = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: only rows written under or about a break-glass grant.",
    )


class AuditEventListApi(APIView):
    """List the tenant's audit trail, newest first."""

    permission_classes = [HasTenantRole]
    required_module = CORE
    allowed_roles = (Role.AUDITOR, Role.TENANT_ADMIN)

    @extend_schema(
        operation_id="audit_events_list",
        parameters=[AuditFilterInput],
        responses={
            200: cursor_page_of(AuditEventOutput, "AuditEventPage"),
            **problem_responses(400, 401, 403, 422),
        },
    )
    def get(self, request: Request) -> Response:
        filters = AuditFilterInput(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        paginator = AuditCursorPagination()
        page = paginator.paginate_queryset(
            audit_event_list(**filters.criteria()), request, view=self
        )
        return paginator.get_paginated_response(AuditEventOutput(page, many=True).data)


class AuditEventDetailApi(APIView):
    """Read one audit row."""

    permission_classes = [HasTenantRole]
    required_module = CORE
    allowed_roles = (Role.AUDITOR, Role.TENANT_ADMIN)

    @extend_schema(
        operation_id="audit_events_read",
        responses={200: AuditEventOutput, **problem_responses(401, 403, 404)},
    )
    def get(self, request: Request, event_id: int) -> Response:
        return Response(AuditEventOutput(audit_event_get(event_id=event_id)).data)
