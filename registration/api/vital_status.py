"""Vital-status endpoints: read the current status and its history; record, verify, refute or
correct a death. Changes need If-Match with the patient's ETag (they change its version).

A restricted patient's vital status follows the restricted-patient rules (docs/SECURITY.md): read
and change need a care-team or break-glass grant (else 403 `restricted-patient`); a read through
a grant is audited with the grant id. The civil-registry inbox (mpi.services.death_notifications)
is a system path and still records a restricted patient's death."""

from typing import Any
from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from registration.api.views import IF_MATCH, VERSIONED_WRITE_ERRORS, etag, expected_version
from registration.models import DatePrecision, VitalStatus, VitalStatusRecord, VitalStatusSource
from registration.selectors.access import require_patient_access_by_id
from registration.selectors.vital_status import vital_status_current, vital_status_history
from registration.services.patients import patient_access_log
from registration.services.vital_status import (
    DeathDate,
    vital_status_correct,
    vital_status_record_death,
    vital_status_refute,
    vital_status_verify,
)
from tenancy.api.fields import StrictCharField, StrictIntegerField
from tenancy.api.permissions import HasTenantRole, request_principal
from tenancy.api.problems import problem_responses
from tenancy.models import Role
from tenancy.principal import Principal

Serializer = serializers.Serializer[Any]

READ_ROLES = (Role.FRONT_DESK, Role.DATA_STEWARD, Role.INTEGRATOR)
RECORD_ROLES = (Role.FRONT_DESK, Role.DATA_STEWARD, Role.INTEGRATOR)
REVIEW_ROLES = (Role.DATA_STEWARD,)
# What a REST caller may name as the source of a death report (the civil registry reports
# through the inbox, a steward's own changes are verifications and corrections).
REST_SOURCES = [
    (str(value), str(label))
    for value, label in VitalStatusSource.choices
    if value
    in {VitalStatusSource.FRONT_DESK, VitalStatusSource.HOSPITAL, VitalStatusSource.INTEGRATOR}
]

# What a refuted death leaves the patient as.
REFUTED_STATUS_CHOICES = [
    (str(value), str(label))
    for value, label in VitalStatus.choices
    if value in {VitalStatus.ALIVE, VitalStatus.UNKNOWN}
]


class VitalStatusEntrySerializer(Serializer):
    """One entry of the vital-status history."""

    id = serializers.UUIDField()
    sequence = StrictIntegerField()
    change = StrictCharField()
    status = StrictCharField()
    deceased_date = serializers.DateField(allow_null=True)
    deceased_date_precision = StrictCharField()
    deceased_date_estimated = serializers.BooleanField()
    source = StrictCharField()  # type: ignore[assignment]  # field named like DRF Field.source
    verification = StrictCharField()
    reason = StrictCharField()
    patient_version = StrictIntegerField()
    recorded_by = StrictCharField()
    recorded_at = serializers.DateTimeField()


class VitalStatusOutputSerializer(Serializer):
    """A patient's current vital status and its full history (oldest first)."""

    patient_id = serializers.UUIDField()
    version = StrictIntegerField(help_text="The patient's version (its ETag).")
    status = serializers.ChoiceField(VitalStatus.choices)
    deceased = serializers.BooleanField()
    deceased_date = serializers.DateField(allow_null=True)
    deceased_date_precision = StrictCharField()
    deceased_date_estimated = serializers.BooleanField()
    verification = StrictCharField()
    source = StrictCharField()  # type: ignore[assignment]  # field named like DRF Field.source
    history = VitalStatusEntrySerializer(many=True)


class DeathInputSerializer(Serializer):
    """A death being reported. Without a date, the patient is deceased at an unknown date."""

    deceased_date = serializers.DateField(required=False, allow_null=True, default=None)
    deceased_date_precision = serializers.ChoiceField(
        DatePrecision.choices, required=False, default=DatePrecision.DAY
    )
    deceased_date_estimated = serializers.BooleanField(required=False, default=False)
    source = serializers.ChoiceField(REST_SOURCES)  # type: ignore[assignment]  # field named like DRF Field.source
    note = StrictCharField(max_length=500, required=False, default="", allow_blank=True)


class VerifyInputSerializer(Serializer):
    """A verification, with an optional note (e.g. which document confirmed it)."""

    note = StrictCharField(max_length=500, required=False, default="", allow_blank=True)


class RefuteInputSerializer(Serializer):
    """A refutation: why the recorded death is wrong, and the status that replaces it."""

    reason = StrictCharField(max_length=500)
    status = serializers.ChoiceField(
        REFUTED_STATUS_CHOICES, required=False, default=VitalStatus.ALIVE
    )


class CorrectInputSerializer(Serializer):
    """A corrected date of death, and why."""

    deceased_date = serializers.DateField(allow_null=True)
    deceased_date_precision = serializers.ChoiceField(
        DatePrecision.choices, required=False, default=DatePrecision.DAY
    )
    deceased_date_estimated = serializers.BooleanField(required=False, default=False)
    reason = StrictCharField(max_length=500)


def _death(data: dict[str, Any]) -> DeathDate:
    return DeathDate(
        data["deceased_date"], data["deceased_date_precision"], data["deceased_date_estimated"]
    )


def _entry(record: VitalStatusRecord) -> dict[str, Any]:
    return VitalStatusEntrySerializer(record).data


def vital_status_response(patient_id: UUID, status_code: int = 200) -> Response:
    """The current status and history, with the patient's ETag."""
    current = vital_status_current(patient_id=patient_id)
    body = {
        "patient_id": current.patient_id,
        "version": current.patient_version,
        "status": current.status,
        "deceased": current.deceased,
        "deceased_date": current.deceased_date,
        "deceased_date_precision": current.deceased_date_precision,
        "deceased_date_estimated": current.deceased_date_estimated,
        "verification": current.verification,
        "source": current.source,
        "history": [_entry(r) for r in vital_status_history(patient_id=patient_id)],
    }
    response = Response(VitalStatusOutputSerializer(body).data, status=status_code)
    response["ETag"] = etag(current.patient_version)
    return response


def _change_request(
    request: Request, patient_id: UUID, serializer_class: type[Serializer]
) -> tuple[Principal | None, int, dict[str, Any]]:
    """What every vital-status change starts with: the caller may open the patient, the
    If-Match version, and the validated body (problem+json on each failure)."""
    principal = request_principal(request)
    require_patient_access_by_id(principal, patient_id)
    version = expected_version(request)
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return principal, version, body.validated_data


class VitalStatusApi(APIView):
    """Read a patient's vital status and history; record a reported death."""

    permission_classes = [HasTenantRole]
    required_module = "registration"
    allowed_roles = READ_ROLES
    write_roles = RECORD_ROLES

    @extend_schema(
        operation_id="patients_vital_status_read",
        responses={200: VitalStatusOutputSerializer, **problem_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, patient_id: UUID) -> Response:
        principal = request_principal(request)
        access = require_patient_access_by_id(principal, patient_id)
        response = vital_status_response(patient_id)
        patient_access_log(
            actor=principal,
            patient_ids=[patient_id],
            action="patient.vital_status_read",
            details={patient_id: access.audit_details()},
        )
        return response

    @extend_schema(
        operation_id="patients_vital_status_record_death",
        parameters=[IF_MATCH],
        request=DeathInputSerializer,
        responses={201: VitalStatusOutputSerializer, **VERSIONED_WRITE_ERRORS},
    )
    def post(self, request: Request, patient_id: UUID) -> Response:
        actor, version, data = _change_request(request, patient_id, DeathInputSerializer)
        vital_status_record_death(
            actor=actor,
            patient_id=patient_id,
            expected_version=version,
            death=_death(data),
            source=data["source"],
            channel="rest",
            note=data["note"],
        )
        return vital_status_response(patient_id, 201)


class VitalStatusVerifyApi(APIView):
    """A data steward confirms a reported death."""

    permission_classes = [HasTenantRole]
    required_module = "registration"
    allowed_roles = REVIEW_ROLES

    @extend_schema(
        operation_id="patients_vital_status_verify",
        parameters=[IF_MATCH],
        request=VerifyInputSerializer,
        responses={200: VitalStatusOutputSerializer, **VERSIONED_WRITE_ERRORS},
    )
    def post(self, request: Request, patient_id: UUID) -> Response:
        actor, version, data = _change_request(request, patient_id, VerifyInputSerializer)
        vital_status_verify(
            actor=actor,
            patient_id=patient_id,
            expected_version=version,
            channel="rest",
            note=data["note"],
        )
        return vital_status_response(patient_id)


class VitalStatusRefuteApi(APIView):
    """A data steward refutes a recorded death, with a reason."""

    permission_classes = [HasTenantRole]
    required_module = "registration"
    allowed_roles = REVIEW_ROLES

    @extend_schema(
        operation_id="patients_vital_status_refute",
        parameters=[IF_MATCH],
        request=RefuteInputSerializer,
        responses={200: VitalStatusOutputSerializer, **VERSIONED_WRITE_ERRORS},
    )
    def post(self, request: Request, patient_id: UUID) -> Response:
        actor, version, data = _change_request(request, patient_id, RefuteInputSerializer)
        vital_status_refute(
            actor=actor,
            patient_id=patient_id,
            expected_version=version,
            reason=data["reason"],
            status=data["status"],
            channel="rest",
        )
        return vital_status_response(patient_id)


class VitalStatusCorrectApi(APIView):
    """A data steward corrects the date of a recorded death, with a reason."""

    permission_classes = [HasTenantRole]
    required_module = "registration"
    allowed_roles = REVIEW_ROLES

    @extend_schema(
        operation_id="patients_vital_status_correct",
        parameters=[IF_MATCH],
        request=CorrectInputSerializer,
        responses={200: VitalStatusOutputSerializer, **VERSIONED_WRITE_ERRORS},
    )
    def post(self, request: Request, patient_id: UUID) -> Response:
        actor, version, data = _change_request(request, patient_id, CorrectInputSerializer)
        vital_status_correct(
            actor=actor,
            patient_id=patient_id,
            expected_version=version,
            death=_death(data),
            reason=data["reason"],
            channel="rest",
        )
        return vital_status_response(patient_id)
