"""Access to restricted patients: break-glass with a reason (auditors review the uses), and the
care-team grants that tenant administrators and privacy officers give and revoke."""

from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from registration.models import BreakGlassReason, GrantKind, PatientAccessGrant, ReviewDecision
from registration.selectors.access import (
    break_glass_grant_get,
    break_glass_grants,
    patient_access_grant_get,
    patient_access_grants,
)
from registration.services.access import (
    GRANT_MANAGER_ROLES,
    NOTE_MAX,
    REASON_MAX,
    REASON_MIN,
    access_grant_revoke,
    break_glass_open,
    break_glass_review,
    care_team_grant,
)
from tenancy.api.fields import StrictCharField, StrictIntegerField
from tenancy.api.pagination import CursorQuerySerializer, StrictCursorPagination, cursor_page_of
from tenancy.api.permissions import HasTenantRole, request_principal
from tenancy.api.problems import problem_responses
from tenancy.errors import PermissionDeniedError
from tenancy.models import Role
from tenancy.modules import BREAK_GLASS, REGISTRATION

OPEN_ROLES = (Role.FRONT_DESK, Role.DATA_STEWARD, Role.INTEGRATOR)
REVIEW_ROLES = (Role.AUDITOR,)


class BreakGlassInput(serializers.Serializer[object]):
    """Why the caller must open this restricted record now."""

    reason_category = serializers.ChoiceField(choices=BreakGlassReason.choices)
    reason = StrictCharField(
        min_length=REASON_MIN,
        max_length=REASON_MAX,
        help_text="Free text, kept with the grant for the privacy officer (not in events).",
    )


class BreakGlassGrantOutput(serializers.Serializer[object]):
    """A break-glass grant: whose, for which patient, until when, and its review."""

    id = serializers.UUIDField()
    patient_id = serializers.UUIDField()
    grantee_user_id = serializers.IntegerField(allow_null=True)
    grantee_api_key_id = serializers.UUIDField(allow_null=True)
    reason_category = serializers.CharField()
    reason = serializers.CharField(source="reason_text")
    granted_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    review_decision = serializers.CharField(help_text="'' while pending.")
    review_note = serializers.CharField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
    reviewed_by_id = serializers.IntegerField(allow_null=True)


class BreakGlassOpenedOutput(serializers.Serializer[PatientAccessGrant]):
    """What the caller gets back: the grant id (quoted in the audit trail) and its end."""

    id = serializers.UUIDField()
    patient_id = serializers.UUIDField()
    reason_category = serializers.CharField()
    expires_at = serializers.DateTimeField()


class BreakGlassApi(APIView):
    """Open one restricted patient for the caller, time-boxed, audited and reviewed later."""

    permission_classes = [HasTenantRole]
    required_module = BREAK_GLASS
    allowed_roles = OPEN_ROLES

    @extend_schema(
        operation_id="patients_break_glass",
        request=BreakGlassInput,
        responses={201: BreakGlassOpenedOutput, **problem_responses(400, 401, 403, 404, 409, 422)},
        description=(
            "Answers 201 with a grant lasting BREAK_GLASS_MINUTES (default 30). Every read "
            "during it is audited with the grant id; `security.break-glass-used` is emitted; "
            "an auditor reviews it. 409 when the patient is not restricted."
        ),
    )
    def post(self, request: Request, patient_id: UUID) -> Response:
        body = BreakGlassInput(data=request.data)
        body.is_valid(raise_exception=True)
        principal = request_principal(request)
        if principal is None:  # pragma: no cover - HasTenantRole has refused already
            raise PermissionDeniedError
        grant = break_glass_open(
            actor=principal,
            patient_id=patient_id,
            reason_category=body.validated_data["reason_category"],
            reason_text=body.validated_data["reason"],
        )
        return Response(BreakGlassOpenedOutput(grant).data, status=status.HTTP_201_CREATED)


class BreakGlassQuery(CursorQuerySerializer):
    """Which part of the review queue to list."""

    review = serializers.ChoiceField(
        choices=["pending", "reviewed", "all"], required=False, default="pending"
    )


class BreakGlassCursorPagination(StrictCursorPagination):
    """Newest grants first."""

    ordering = ("-granted_at", "id")
    page_size = 50


class BreakGlassGrantListApi(APIView):
    """The privacy officer's review queue of break-glass accesses."""

    permission_classes = [HasTenantRole]
    required_module = BREAK_GLASS
    allowed_roles = REVIEW_ROLES

    @extend_schema(
        operation_id="break_glass_grants_list",
        parameters=[BreakGlassQuery],
        responses={
            200: cursor_page_of(BreakGlassGrantOutput, "BreakGlassGrantPage"),
            **problem_responses(400, 401, 403),
        },
    )
    def get(self, request: Request) -> Response:
        query = BreakGlassQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        paginator = BreakGlassCursorPagination()
        page = paginator.paginate_queryset(
            break_glass_grants(review=query.validated_data["review"]), request, view=self
        )
        return paginator.get_paginated_response(BreakGlassGrantOutput(page, many=True).data)


class BreakGlassReviewInput(serializers.Serializer[object]):
    """The verdict on one break-glass access."""

    decision = serializers.ChoiceField(choices=ReviewDecision.choices)
    note = StrictCharField(max_length=NOTE_MAX)


class BreakGlassReviewApi(APIView):
    """Mark a break-glass access justified or not, with a note (once)."""

    permission_classes = [HasTenantRole]
    required_module = BREAK_GLASS
    allowed_roles = REVIEW_ROLES

    @extend_schema(
        operation_id="break_glass_grants_review",
        request=BreakGlassReviewInput,
        responses={200: BreakGlassGrantOutput, **problem_responses(400, 401, 403, 404, 409, 422)},
    )
    def post(self, request: Request, grant_id: UUID) -> Response:
        body = BreakGlassReviewInput(data=request.data)
        body.is_valid(raise_exception=True)
        principal = request_principal(request)
        if principal is None:  # pragma: no cover - HasTenantRole has refused already
            raise PermissionDeniedError
        break_glass_grant_get(grant_id=grant_id)
        grant = break_glass_review(
            actor=principal,
            grant_id=grant_id,
            decision=body.validated_data["decision"],
            note=body.validated_data["note"],
        )
        return Response(BreakGlassGrantOutput(grant).data)


# --- Care-team grants ---------------------------------------------------------------------------


class AccessGrantInput(serializers.Serializer[object]):
    """Put a member of the tenant on the patient's care team."""

    user_id = StrictIntegerField(min_value=1, help_text="A member of this tenant.")
    reason = StrictCharField(
        min_length=REASON_MIN,
        max_length=REASON_MAX,
        help_text="Why this person needs the record (kept with the grant, not in events).",
    )
    expires_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="When the grant stops working (future; omitted or null: until revoked).",
    )


class AccessGrantOutput(serializers.Serializer[object]):
    """One grant of a patient: care team or break-glass, whose, why, until when."""

    id = serializers.UUIDField()
    patient_id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=GrantKind.choices)
    grantee_user_id = serializers.IntegerField(allow_null=True)
    grantee_username = serializers.CharField(
        source="grantee_user.username", allow_null=True, default=None
    )
    grantee_api_key_id = serializers.UUIDField(allow_null=True)
    reason_category = serializers.CharField(help_text="Break-glass only ('' for the care team).")
    reason = serializers.CharField(source="reason_text")
    granted_at = serializers.DateTimeField()
    granted_by = serializers.CharField(help_text="PHI-free label: user:<id>, api-key:<id>.")
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    revoked_by = serializers.CharField()
    active = serializers.BooleanField(help_text="Neither revoked nor expired right now.")


class AccessGrantQuery(CursorQuerySerializer):
    """Only the grants that work now (default) or every grant ever given."""

    state = serializers.ChoiceField(choices=["active", "all"], required=False, default="active")


class PatientAccessGrantListApi(APIView):
    """A patient's care team and break-glass grants; add a member to the care team."""

    permission_classes = [HasTenantRole]
    required_module = REGISTRATION
    allowed_roles = GRANT_MANAGER_ROLES

    @extend_schema(
        operation_id="patients_access_grants_list",
        parameters=[AccessGrantQuery],
        responses={
            200: cursor_page_of(AccessGrantOutput, "AccessGrantPage"),
            **problem_responses(400, 401, 403, 404),
        },
    )
    def get(self, request: Request, patient_id: UUID) -> Response:
        query = AccessGrantQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        paginator = BreakGlassCursorPagination()
        page = paginator.paginate_queryset(
            patient_access_grants(patient_id=patient_id, state=query.validated_data["state"]),
            request,
            view=self,
        )
        return paginator.get_paginated_response(AccessGrantOutput(page, many=True).data)

    @extend_schema(
        operation_id="patients_access_grants_create",
        request=AccessGrantInput,
        responses={201: AccessGrantOutput, **problem_responses(400, 401, 403, 404, 409, 422)},
        description=(
            "Managers (tenant_admin, auditor) only, never for themselves (403). 422 when the "
            "user is not a member of this tenant or the expiry is past; 409 when the user is "
            "already on the care team. Audited and announced (`security.access-granted`)."
        ),
    )
    def post(self, request: Request, patient_id: UUID) -> Response:
        body = AccessGrantInput(data=request.data)
        body.is_valid(raise_exception=True)
        grant = care_team_grant(
            actor=request_principal(request),
            patient_id=patient_id,
            user_id=body.validated_data["user_id"],
            reason=body.validated_data["reason"],
            expires_at=body.validated_data.get("expires_at"),
        )
        created = patient_access_grant_get(patient_id=patient_id, grant_id=grant.id)
        response = Response(AccessGrantOutput(created).data, status=status.HTTP_201_CREATED)
        response["Location"] = f"/api/v1/patients/{patient_id}/access-grants/{grant.id}"
        return response


class PatientAccessGrantDetailApi(APIView):
    """One grant of a patient; revoke it (it stops working at the next access)."""

    permission_classes = [HasTenantRole]
    required_module = REGISTRATION
    allowed_roles = GRANT_MANAGER_ROLES

    @extend_schema(
        operation_id="patients_access_grants_read",
        responses={200: AccessGrantOutput, **problem_responses(401, 403, 404)},
    )
    def get(self, request: Request, patient_id: UUID, grant_id: UUID) -> Response:
        grant = patient_access_grant_get(patient_id=patient_id, grant_id=grant_id)
        return Response(AccessGrantOutput(grant).data)

    @extend_schema(
        operation_id="patients_access_grants_revoke",
        responses={204: None, **problem_responses(401, 403, 404)},
        description=(
            "Revokes a care-team or break-glass grant now; revoking a revoked grant changes "
            "nothing. Audited and announced (`security.access-revoked`)."
        ),
    )
    def delete(self, request: Request, patient_id: UUID, grant_id: UUID) -> Response:
        access_grant_revoke(
            actor=request_principal(request), patient_id=patient_id, grant_id=grant_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
