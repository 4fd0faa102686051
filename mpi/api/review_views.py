"""Review queue, merge and enterprise-person endpoints: parse, authorize, call, render.

Only data stewards and tenant administrators decide, merge or unmerge; integrators and
auditors read (integrators must see merges consistently, auditors review them).

Restricted patients (docs/SECURITY.md): a pair with a restricted patient the caller may not
open is listed masked (no compared values); reading it, deciding it, previewing or executing a
merge with it, or undoing such a merge is 403 `restricted-patient` with the break-glass hint.
An enterprise person's restricted records are shown masked and left out of its golden record.
"""

from collections.abc import Iterable
from uuid import UUID

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mpi.api.review_serializers import (
    BulkDecisionSerializer,
    CandidateQuerySerializer,
    CandidateSerializer,
    ClaimSerializer,
    DecisionSerializer,
    EnterpriseLinkResultSerializer,
    EnterpriseLinkSerializer,
    EnterprisePersonSerializer,
    MergePreviewRequestSerializer,
    MergePreviewSerializer,
    MergeRequestSerializer,
    MergeSerializer,
    candidate_output,
    enterprise_output,
    merge_output,
    preview_output,
)
from mpi.models import MatchCandidate, MatchDecisionKind
from mpi.selectors.enterprise import enterprise_person_get
from mpi.selectors.review import QueueFilter, candidate_get, candidate_queue, merge_get
from mpi.services.enterprise import enterprise_link_pair
from mpi.services.merges import patients_merge, patients_merge_preview, patients_unmerge
from mpi.services.review import (
    candidate_claim,
    candidate_decide,
    candidate_reopen,
    candidates_decide_bulk,
)
from registration.api.serializers import ReasonSerializer
from registration.selectors.access import (
    PatientAccess,
    patients_access_by_ids,
    require_patients_access_by_ids,
)
from registration.services.patients import patient_access_log
from tenancy.api.pagination import StrictCursorPagination, cursor_page_of
from tenancy.api.permissions import HasTenantRole, request_principal
from tenancy.api.problems import problem_responses
from tenancy.models import Role
from tenancy.principal import Principal

READ_ROLES = (Role.DATA_STEWARD, Role.TENANT_ADMIN, Role.INTEGRATOR, Role.AUDITOR)
DECIDE_ROLES = (Role.DATA_STEWARD, Role.TENANT_ADMIN)
WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 422)
READ_ERRORS = problem_responses(400, 401, 403, 404)


def _pair(candidate: MatchCandidate) -> list[UUID]:
    return [candidate.patient_low_id, candidate.patient_high_id]


def _require_pairs(
    principal: Principal | None, candidates: Iterable[MatchCandidate]
) -> dict[UUID, PatientAccess]:
    """The caller may open both patients of every pair, or RestrictedPatientError (403)."""
    return require_patients_access_by_ids(principal, [i for c in candidates for i in _pair(c)])


def _log_pair_read(principal: Principal | None, ids: list[UUID], action: str) -> None:
    access = require_patients_access_by_ids(principal, ids)
    patient_access_log(
        actor=principal,
        patient_ids=ids,
        action=action,
        details={i: access[i].audit_details() for i in ids if i in access},
    )


class CandidateCursorPagination(StrictCursorPagination):
    """Stable pages of the queue, most probable first."""

    ordering = ("-probability", "created_at", "id")
    page_size = 25


class MpiApi(APIView):
    """Base of the review endpoints: module "mpi", reads and decisions by role."""

    required_module = "mpi"
    permission_classes = [HasTenantRole]
    allowed_roles: tuple[Role, ...] = READ_ROLES
    write_roles: tuple[Role, ...] = DECIDE_ROLES


class CandidateListApi(MpiApi):
    """The review queue."""

    @extend_schema(
        operation_id="match_candidates_list",
        parameters=[CandidateQuerySerializer],
        responses={
            200: cursor_page_of(CandidateSerializer, "CandidatePage"),
            **problem_responses(400, 401, 403, 422),
        },
    )
    def get(self, request: Request) -> Response:
        query = CandidateQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        criteria = QueueFilter(**query.criteria())
        paginator = CandidateCursorPagination()
        page = paginator.paginate_queryset(
            candidate_queue(criteria, today=timezone.localdate(), with_patients=False),
            request,
            view=self,
        )
        candidates = list(page or [])
        access = patients_access_by_ids(
            request_principal(request), [i for c in candidates for i in _pair(c)]
        )
        return paginator.get_paginated_response(
            [
                candidate_output(c, masked=not all(access[i].allowed for i in _pair(c)))
                for c in candidates
            ]
        )


class CandidateDetailApi(MpiApi):
    """One pair with its evidence."""

    @extend_schema(
        operation_id="match_candidates_read", responses={200: CandidateSerializer, **READ_ERRORS}
    )
    def get(self, request: Request, candidate_id: UUID) -> Response:
        candidate = candidate_get(candidate_id=candidate_id)
        _log_pair_read(request_principal(request), _pair(candidate), "patient.candidate_read")
        return Response(candidate_output(candidate))


class CandidateClaimApi(MpiApi):
    """Claim, assign or release a pair."""

    @extend_schema(
        operation_id="match_candidates_claim",
        request=ClaimSerializer,
        responses={200: CandidateSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request, candidate_id: UUID) -> Response:
        _require_pairs(request_principal(request), [candidate_get(candidate_id=candidate_id)])
        body = ClaimSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        candidate = candidate_claim(
            actor=request_principal(request),
            candidate_id=candidate_id,
            assignee=body.validated_data.get("assignee"),
        )
        return Response(candidate_output(candidate))


class CandidateDecisionApi(MpiApi):
    """Decide a pair (final until reopened; a training label)."""

    @extend_schema(
        operation_id="match_candidates_decide",
        request=DecisionSerializer,
        responses={200: CandidateSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request, candidate_id: UUID) -> Response:
        _require_pairs(request_principal(request), [candidate_get(candidate_id=candidate_id)])
        body = DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        candidate = candidate_decide(
            actor=request_principal(request),
            candidate_id=candidate_id,
            decision=MatchDecisionKind(body.validated_data["decision"]),
            reason=body.validated_data["reason"],
        )
        return Response(candidate_output(candidate))


class CandidateReopenApi(MpiApi):
    """Reopen a closed pair explicitly (a merged or superseded one once its merge is undone)."""

    @extend_schema(
        operation_id="match_candidates_reopen",
        request=ReasonSerializer,
        responses={200: CandidateSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request, candidate_id: UUID) -> Response:
        _require_pairs(request_principal(request), [candidate_get(candidate_id=candidate_id)])
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        candidate = candidate_reopen(
            actor=request_principal(request),
            candidate_id=candidate_id,
            reason=body.validated_data["reason"],
        )
        return Response(candidate_output(candidate))


class CandidateBulkDecisionApi(MpiApi):
    """Decide many obvious pairs at once (all or none)."""

    @extend_schema(
        operation_id="match_candidates_decide_bulk",
        request=BulkDecisionSerializer,
        responses={200: CandidateSerializer(many=True), **WRITE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = BulkDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        _require_pairs(
            request_principal(request),
            [candidate_get(candidate_id=i) for i in body.validated_data["candidate_ids"]],
        )
        candidates = candidates_decide_bulk(
            actor=request_principal(request),
            candidate_ids=body.validated_data["candidate_ids"],
            decision=MatchDecisionKind(body.validated_data["decision"]),
            reason=body.validated_data["reason"],
        )
        return Response([candidate_output(c) for c in candidates])


class MergePreviewApi(MpiApi):
    """What a merge would produce (nothing is written)."""

    allowed_roles = DECIDE_ROLES

    @extend_schema(
        operation_id="merges_preview",
        request=MergePreviewRequestSerializer,
        responses={200: MergePreviewSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = MergePreviewRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        principal = request_principal(request)
        ids = [data["survivor_id"], data["subsumed_id"]]
        access = require_patients_access_by_ids(principal, ids)
        preview = patients_merge_preview(
            survivor_id=data["survivor_id"],
            subsumed_id=data["subsumed_id"],
            field_choices=data["field_choices"],
        )
        patient_access_log(
            actor=principal,
            patient_ids=ids,
            action="patient.merge_previewed",
            details={i: access[i].audit_details() for i in ids if i in access},
        )
        return Response(preview_output(preview))


class MergeListApi(MpiApi):
    """Execute a merge."""

    @extend_schema(
        operation_id="merges_execute",
        request=MergeRequestSerializer,
        responses={201: MergeSerializer, **problem_responses(400, 401, 403, 404, 409, 412, 422)},
    )
    def post(self, request: Request) -> Response:
        body = MergeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        require_patients_access_by_ids(
            request_principal(request), [data["survivor_id"], data["subsumed_id"]]
        )
        merge = patients_merge(
            actor=request_principal(request),
            survivor_id=data["survivor_id"],
            subsumed_id=data["subsumed_id"],
            field_choices=data["field_choices"],
            reason=data["reason"],
            expected_versions={
                data["survivor_id"]: data["survivor_version"],
                data["subsumed_id"]: data["subsumed_version"],
            },
        )
        response = Response(merge_output(merge), status=status.HTTP_201_CREATED)
        response["Location"] = f"/api/v1/merges/{merge.id}"
        return response


class MergeDetailApi(MpiApi):
    """One merge ledger entry."""

    @extend_schema(operation_id="merges_read", responses={200: MergeSerializer, **READ_ERRORS})
    def get(self, request: Request, merge_id: UUID) -> Response:
        return Response(merge_output(merge_get(merge_id=merge_id)))


class MergeUnmergeApi(MpiApi):
    """Undo a merge (409 while later merges depend on it)."""

    @extend_schema(
        operation_id="merges_unmerge",
        request=ReasonSerializer,
        responses={200: MergeSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request, merge_id: UUID) -> Response:
        merged = merge_get(merge_id=merge_id)
        require_patients_access_by_ids(
            request_principal(request), [merged.survivor_id, merged.subsumed_id]
        )
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        merge = patients_unmerge(
            actor=request_principal(request),
            merge_id=merge_id,
            reason=body.validated_data["reason"],
        )
        return Response(merge_output(merge))


class EnterprisePersonDetailApi(MpiApi):
    """An enterprise person: golden record (read-only) and linked records."""

    @extend_schema(
        operation_id="enterprise_persons_read",
        responses={200: EnterprisePersonSerializer, **READ_ERRORS},
    )
    def get(self, request: Request, euid: UUID) -> Response:
        principal = request_principal(request)
        person = enterprise_person_get(euid=euid, principal=principal)
        patient_access_log(
            actor=principal,
            patient_ids=[p.id for p in person.records],
            details={p.id: person.access_of(p).audit_details() for p in person.records},
        )
        return Response(enterprise_output(person))


class EnterpriseLinkApi(MpiApi):
    """Link two records of one person under one EUID without merging them."""

    @extend_schema(
        operation_id="enterprise_persons_link",
        request=EnterpriseLinkSerializer,
        responses={200: EnterpriseLinkResultSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = EnterpriseLinkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        euid = enterprise_link_pair(
            actor=request_principal(request),
            patient_id=body.validated_data["patient_id"],
            other_patient_id=body.validated_data["other_patient_id"],
            source="steward",
        )
        return Response({"euid": str(euid)})
