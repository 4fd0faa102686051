"""Patient endpoints: parse, authorize, call a service or selector, render."""

import re
from uuid import UUID

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from registration.api.serializers import (
    IdentifierInputSerializer,
    IdentifierOutputSerializer,
    PatientInputSerializer,
    PatientOutputSerializer,
    PatientPatchSerializer,
    PatientRegisterSerializer,
    PatientSearchSerializer,
    ReasonSerializer,
    identifier_input,
    masked_patient_output,
    patient_changes,
    patient_input,
    patient_output,
)
from registration.models import Patient
from registration.selectors.access import (
    patients_access,
    require_patient_access,
    require_patient_access_by_id,
)
from registration.selectors.patients import PatientSearch, patient_get, patient_search
from registration.services.patients import (
    identifier_add,
    identifier_retire,
    patient_access_log,
    patient_deactivate,
    patient_patch,
    patient_register,
    patient_update,
)
from tenancy.api.pagination import StrictCursorPagination, cursor_page_of
from tenancy.api.permissions import HasTenantRole, request_principal
from tenancy.api.problems import problem_responses
from tenancy.errors import PreconditionRequiredError
from tenancy.models import Role
from tenancy.modules import REGISTRATION
from tenancy.services.idempotency import IdempotencyKey, IdempotentReplay

READ_ROLES = (Role.FRONT_DESK, Role.DATA_STEWARD, Role.INTEGRATOR)
WRITE_ROLES = (Role.FRONT_DESK, Role.INTEGRATOR)
ETAG_PATTERN = r'^(W/)?"(\d{1,9})"$'
_ETAG = re.compile(ETAG_PATTERN)

# 422: the body matched the schema but breaks a domain rule (future birth date, check digit…).
WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 422)
VERSIONED_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 412, 422, 428)
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=True,
    pattern=ETAG_PATTERN,
    allow_blank=False,
    description='The ETag read last, e.g. `"3"`.',
)


IDEMPOTENCY_KEY_PATTERN = r'^"?[\x21\x23-\x7e]{1,255}"?$'
_IDEMPOTENCY_KEY = re.compile(r'^"?([\x21\x23-\x7e]{1,255})"?$')
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    pattern=IDEMPOTENCY_KEY_PATTERN,
    allow_blank=False,
    description=(
        "A unique value per intended registration (e.g. a UUID), 1-255 visible ASCII "
        "characters, optionally quoted. A retry with the same key and body within "
        "IDEMPOTENCY_KEY_TTL_HOURS (default 24) answers 201 with the patient the first attempt "
        "created and `Idempotent-Replayed: true`; the same key with another body is 422 "
        "`idempotency-key-reused`. Keys are per caller."
    ),
)


def idempotency_for(request: Request, operation: str) -> IdempotencyKey | None:
    """The caller's Idempotency-Key for this request, if it sent one (400 when malformed)."""
    header = request.headers.get("Idempotency-Key")
    principal = request_principal(request)
    if header is None or principal is None:  # no principal: the permission check refuses
        return None
    match = _IDEMPOTENCY_KEY.match(header.strip())
    if match is None:
        raise ValidationError(
            {"Idempotency-Key": ["Send 1-255 visible ASCII characters (a UUID is a good key)."]}
        )
    return IdempotencyKey.for_request(
        owner=principal.label,
        key=match.group(1),
        operation=operation,
        body=request.data,
    )


def etag(version: int) -> str:
    """The entity tag of a patient version."""
    return f'"{version}"'


def expected_version(request: Request) -> int:
    """The version the caller last read, from If-Match (required for every change)."""
    header = request.headers.get("If-Match")
    if not header:
        raise PreconditionRequiredError("Send If-Match with the ETag of the version you read.")
    match = _ETAG.match(header.strip())
    if match is None:
        raise ValidationError({"If-Match": ['Send one entity tag as read, such as "3".']})
    return int(match.group(2))


def _patient_response(patient_id: UUID, request: Request, status_code: int = 200) -> Response:
    return _rendered(patient_get(patient_id=patient_id), status_code)


def _rendered(patient: Patient, status_code: int = 200) -> Response:
    response = Response(patient_output(patient), status=status_code)
    response["ETag"] = etag(patient.version)
    return response


class PatientCursorPagination(StrictCursorPagination):
    """Stable pages in name order, however many patients there are."""

    ordering = ("sort_name", "id")
    page_size = 25


class PatientListApi(APIView):
    """Search patients; register a new one after a duplicate check."""

    permission_classes = [HasTenantRole]
    required_module = REGISTRATION
    allowed_roles = READ_ROLES
    write_roles = WRITE_ROLES

    @extend_schema(
        operation_id="patients_search",
        parameters=[PatientSearchSerializer],
        responses={
            200: cursor_page_of(PatientOutputSerializer, "PatientPage"),
            **problem_responses(400, 401, 403, 422),
        },
    )
    def get(self, request: Request) -> Response:
        query = PatientSearchSerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        paginator = PatientCursorPagination()
        page = paginator.paginate_queryset(
            patient_search(PatientSearch(**query.criteria())), request, view=self
        )
        patients = list(page or [])
        principal = request_principal(request)
        access = patients_access(principal, patients)
        patient_access_log(
            actor=principal,
            patient_ids=[p.id for p in patients],
            action="patient.searched",
            details={p.id: access[p.id].audit_details() for p in patients},
        )
        return paginator.get_paginated_response(
            [
                patient_output(p) if access[p.id].allowed else masked_patient_output(p)
                for p in patients
            ]
        )

    @extend_schema(
        operation_id="patients_register",
        parameters=[IDEMPOTENCY_KEY],
        request=PatientRegisterSerializer,
        responses={201: PatientOutputSerializer, **problem_responses(400, 401, 403, 409, 422)},
    )
    def post(self, request: Request) -> Response:
        idempotency = idempotency_for(request, "patients_register")
        body = PatientRegisterSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        override = body.validated_data.get("duplicate_override")
        principal = request_principal(request)
        try:
            patient = patient_register(
                actor=principal,
                data=patient_input(body.validated_data),
                duplicate_override_reason=override["reason"] if override else None,
                idempotency=idempotency,
            )
        except IdempotentReplay as replay:
            # The first attempt's patient as it is now, under today's access rules.
            patient = patient_get(patient_id=replay.resource_id)
            access = require_patient_access(principal, patient)
            patient_access_log(
                actor=principal,
                patient_ids=[patient.id],
                details={patient.id: {**access.audit_details(), "idempotent_replay": True}},
            )
            response = _rendered(patient, status.HTTP_201_CREATED)
            response["Idempotent-Replayed"] = "true"
        else:
            # The service hands back the record as written, children loaded: nothing to re-read.
            response = _rendered(patient, status.HTTP_201_CREATED)
        response["Location"] = f"/api/v1/patients/{patient.id}"
        return response


class PatientDetailApi(APIView):
    """Read, replace or change one patient."""

    permission_classes = [HasTenantRole]
    required_module = REGISTRATION
    allowed_roles = READ_ROLES
    write_roles = WRITE_ROLES

    @extend_schema(
        operation_id="patients_read",
        responses={200: PatientOutputSerializer, **problem_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, patient_id: UUID) -> Response:
        principal = request_principal(request)
        patient = patient_get(patient_id=patient_id)
        access = require_patient_access(principal, patient)
        response = Response(patient_output(patient))
        response["ETag"] = etag(patient.version)
        patient_access_log(
            actor=principal, patient_ids=[patient_id], details={patient_id: access.audit_details()}
        )
        return response

    @extend_schema(
        operation_id="patients_replace",
        parameters=[IF_MATCH],
        request=PatientInputSerializer,
        responses={200: PatientOutputSerializer, **VERSIONED_WRITE_ERRORS},
    )
    def put(self, request: Request, patient_id: UUID) -> Response:
        require_patient_access_by_id(request_principal(request), patient_id)
        version = expected_version(request)
        body = PatientInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        patient_update(
            actor=request_principal(request),
            patient_id=patient_id,
            expected_version=version,
            data=patient_input(body.validated_data),
        )
        return _patient_response(patient_id, request)

    @extend_schema(
        operation_id="patients_change",
        parameters=[IF_MATCH],
        request=PatientPatchSerializer,
        responses={200: PatientOutputSerializer, **VERSIONED_WRITE_ERRORS},
    )
    def patch(self, request: Request, patient_id: UUID) -> Response:
        require_patient_access_by_id(request_principal(request), patient_id)
        version = expected_version(request)
        body = PatientPatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        patient_patch(
            actor=request_principal(request),
            patient_id=patient_id,
            expected_version=version,
            changes=patient_changes(body.validated_data),
        )
        return _patient_response(patient_id, request)


class PatientDeactivateApi(APIView):
    """Deactivate a patient (records are never deleted)."""

    permission_classes = [HasTenantRole]
    required_module = REGISTRATION
    allowed_roles = WRITE_ROLES

    @extend_schema(
        operation_id="patients_deactivate",
        parameters=[IF_MATCH],
        request=ReasonSerializer,
        responses={200: PatientOutputSerializer, **VERSIONED_WRITE_ERRORS},
    )
    def post(self, request: Request, patient_id: UUID) -> Response:
        require_patient_access_by_id(request_principal(request), patient_id)
        version = expected_version(request)
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        patient_deactivate(
            actor=request_principal(request),
            patient_id=patient_id,
            expected_version=version,
            reason=body.validated_data["reason"],
        )
        return _patient_response(patient_id, request)


class PatientIdentifierListApi(APIView):
    """A patient's identifiers, retired ones included; add one."""

    permission_classes = [HasTenantRole]
    required_module = REGISTRATION
    allowed_roles = READ_ROLES
    write_roles = WRITE_ROLES

    @extend_schema(
        operation_id="patients_identifiers_list",
        responses={
            200: IdentifierOutputSerializer(many=True),
            **problem_responses(400, 401, 403, 404),
        },
    )
    def get(self, request: Request, patient_id: UUID) -> Response:
        principal = request_principal(request)
        patient = patient_get(patient_id=patient_id)
        access = require_patient_access(principal, patient)
        patient_access_log(
            actor=principal, patient_ids=[patient_id], details={patient_id: access.audit_details()}
        )
        return Response(IdentifierOutputSerializer(patient.identifiers.all(), many=True).data)

    @extend_schema(
        operation_id="patients_identifiers_add",
        request=IdentifierInputSerializer,
        responses={201: IdentifierOutputSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request, patient_id: UUID) -> Response:
        require_patient_access_by_id(request_principal(request), patient_id)
        body = IdentifierInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = identifier_add(
            actor=request_principal(request),
            patient_id=patient_id,
            identifier=identifier_input(body.validated_data),
        )
        return Response(IdentifierOutputSerializer(row).data, status=status.HTTP_201_CREATED)


class PatientIdentifierRetireApi(APIView):
    """Retire an identifier (kept for history, freed for reuse)."""

    permission_classes = [HasTenantRole]
    required_module = REGISTRATION
    allowed_roles = WRITE_ROLES

    @extend_schema(
        operation_id="patients_identifiers_retire",
        request=ReasonSerializer,
        responses={200: IdentifierOutputSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request, patient_id: UUID, identifier_id: int) -> Response:
        require_patient_access_by_id(request_principal(request), patient_id)
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = identifier_retire(
            actor=request_principal(request),
            patient_id=patient_id,
            identifier_id=identifier_id,
            reason=body.validated_data["reason"],
        )
        return Response(IdentifierOutputSerializer(row).data)
