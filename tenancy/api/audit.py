"""Audit trail reads for auditors and tenant administrators."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenancy.api.permissions import HasTenantRole
from tenancy.models import Role
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


class AuditCursorPagination(CursorPagination):
    """Stable paging over an append-only, id-ordered table."""

    ordering = "-id"
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"


class AuditFilterInput(serializers.Serializer[object]):
    """Query parameters of the audit list."""

    object_type = serializers.CharField(required=False, max_length=64)
    object_id = serializers.CharField(required=False, max_length=64)
    action = serializers.CharField(required=False, max_length=64)


class AuditEventListApi(APIView):
    """List the tenant's audit trail, newest first."""

    permission_classes = [HasTenantRole]
    allowed_roles = (Role.AUDITOR, Role.TENANT_ADMIN)

    @extend_schema(
        operation_id="audit_events_list",
        parameters=[AuditFilterInput],
        responses={200: AuditEventOutput(many=True)},
    )
    def get(self, request: Request) -> Response:
        filters = AuditFilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = AuditCursorPagination()
        page = paginator.paginate_queryset(
            audit_event_list(**filters.validated_data), request, view=self
        )
        return paginator.get_paginated_response(AuditEventOutput(page, many=True).data)


class AuditEventDetailApi(APIView):
    """Read one audit row."""

    permission_classes = [HasTenantRole]
    allowed_roles = (Role.AUDITOR, Role.TENANT_ADMIN)

    @extend_schema(operation_id="audit_events_read", responses={200: AuditEventOutput})
    def get(self, request: Request, event_id: int) -> Response:
        return Response(AuditEventOutput(audit_event_get(event_id=event_id)).data)
