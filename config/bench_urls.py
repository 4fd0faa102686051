"""Bench-only routes: a bare DRF endpoint that `make bench` uses as the registration ceiling.

Mounted by config/urls.py only when REGSVC_BENCH_ENDPOINTS=1 (settings.BENCH_ENDPOINTS), which
the benchmark harness sets for its own scratch server and nothing else does: it is absent from
every deployment and from the OpenAPI schema. The view deliberately skips the service layer
(no validation, duplicate check, children, audit or outbox) — it is the floor cost of one
authenticated DRF request that inserts one row through the ORM in the tenant transaction.
"""

from django.urls import URLPattern, path
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from registration.models import Gender, Patient
from tenancy.api.permissions import HasTenantRole
from tenancy.db import current_tenant_id
from tenancy.models import Role


class BenchPatientRowApi(APIView):
    """Insert one bare patient row (bench ceiling; never mounted in a deployment)."""

    permission_classes = [HasTenantRole]
    allowed_roles = (Role.FRONT_DESK, Role.INTEGRATOR)
    write_roles = (Role.FRONT_DESK, Role.INTEGRATOR)
    required_module = "registration"

    @extend_schema(exclude=True)
    def post(self, request: Request) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        gender = body.get("gender")
        row = Patient.objects.create(  # bench ceiling: the ORM insert alone, by design
            tenant_id=current_tenant_id(),
            gender=gender if gender in Gender.values else Gender.UNKNOWN,
        )
        return Response({"id": str(row.id)}, status=status.HTTP_201_CREATED)


urlpatterns: list[URLPattern] = [
    path("bench/patient-row", BenchPatientRowApi.as_view(), name="bench-patient-row"),
]
