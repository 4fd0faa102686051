"""Match endpoint: parse, authorize, call the matcher, render."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mpi.api.serializers import (
    MatchQuerySerializer,
    MatchResponseSerializer,
    match_demographics,
    match_output,
)
from mpi.services.matching import match_patient
from registration.selectors.access import patients_access_by_ids
from registration.services.patients import patient_access_log
from tenancy.api.permissions import HasTenantRole, request_principal
from tenancy.api.problems import problem_responses
from tenancy.errors import FieldError, ValidationFailedError
from tenancy.models import Role
from tenancy.modules import MPI

MATCH_ROLES = (Role.FRONT_DESK, Role.DATA_STEWARD, Role.INTEGRATOR)


class MatchApi(APIView):
    """Find the existing patients most likely to be the person described (no writes)."""

    permission_classes = [HasTenantRole]
    required_module = MPI
    allowed_roles = MATCH_ROLES

    @extend_schema(
        operation_id="match",
        request=MatchQuerySerializer,
        responses={200: MatchResponseSerializer, **problem_responses(400, 401, 403, 422)},
        description=(
            "Ranked candidates with match probability, grade (CERTAIN, PROBABLE, POSSIBLE) and "
            "a per-field explanation. Candidates graded certainly-not are left out. Give at "
            "least a name, an identifier or a phone/e-mail (422 otherwise)."
        ),
    )
    def post(self, request: Request) -> Response:
        body = MatchQuerySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        demographics = match_demographics(body.validated_data)
        if not (demographics.names or demographics.identifiers or demographics.telecoms):
            raise ValidationFailedError(
                "Nothing to match on.",
                errors=[
                    FieldError(
                        "names", "required", "Give a name, an identifier or a phone or e-mail."
                    )
                ],
            )
        result = match_patient(
            demographics,
            count=body.validated_data["count"],
            only_certain=body.validated_data["only_certain"],
        )
        # Showing candidates is an access to their records (one INSERT for all of them);
        # restricted candidates the caller may not open are shown masked (docs/SECURITY.md).
        principal = request_principal(request)
        ids = [candidate.patient_id for candidate in result.candidates]
        access = patients_access_by_ids(principal, ids)
        patient_access_log(
            actor=principal,
            patient_ids=ids,
            action="patient.match_shown",
            details={pid: access[pid].audit_details() for pid in ids},
        )
        return Response(match_output(result, access))
