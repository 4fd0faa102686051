"""URL wiring: health probes, the REST API, its schema and docs, and the console."""

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.defaults import page_not_found, server_error
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from mpi.api.review_urls import urlpatterns as mpi_review_api
from mpi.api.urls import urlpatterns as mpi_api
from registration.api.urls import urlpatterns as registration_api
from registration.fhir.outcome import FHIR_JSON, internal_error_outcome, issue, operation_outcome
from registration.fhir.urls import urlpatterns as fhir_urls
from tenancy.api import health
from tenancy.api.audit import AuditEventDetailApi, AuditEventListApi
from tenancy.api.metrics import metrics
from tenancy.api.problems import problem_response
from tenancy.modules import PUBLIC, requires_module
from tenancy.views import tenant_switch

api_v1 = [
    *registration_api,
    *mpi_api,
    *mpi_review_api,
    path("audit-events", AuditEventListApi.as_view(), name="audit-event-list"),
    path("audit-events/<int:event_id>", AuditEventDetailApi.as_view(), name="audit-event-detail"),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("", include("outbox.urls")),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("fhir/", include((fhir_urls, "fhir"), namespace="fhir")),
    path("api/schema", requires_module(PUBLIC)(SpectacularAPIView.as_view()), name="schema"),
    path(
        "api/docs",
        requires_module(PUBLIC)(SpectacularSwaggerView.as_view(url_name="schema")),
        name="swagger-ui",
    ),
    path(
        "api/redoc",
        requires_module(PUBLIC)(SpectacularRedocView.as_view(url_name="schema")),
        name="redoc",
    ),
    path("admin/tenant/switch/", tenant_switch, name="tenant-switch"),
    path("admin/", admin.site.urls),
]
if settings.BENCH_ENDPOINTS:  # `make bench` only: the registration ceiling (config/bench_urls.py)
    urlpatterns.append(path("", include("config.bench_urls")))


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _is_fhir(request: HttpRequest) -> bool:
    return request.path == "/fhir" or request.path.startswith("/fhir/")


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Unknown API URLs answer in problem+json (FHIR: OperationOutcome); console URLs keep
    Django's page."""
    if _is_fhir(request):
        return JsonResponse(
            operation_outcome([issue("error", "not-found", "Not found.")]),
            status=404,
            content_type=FHIR_JSON,
        )
    if _is_api(request):
        return problem_response(
            request, code="not-found", title="Not found", status=404, detail="Not found."
        )
    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    """Unexpected errors: a problem+json (FHIR: OperationOutcome) with the request id to
    quote, nothing else."""
    if _is_fhir(request):
        return JsonResponse(
            internal_error_outcome(getattr(request, "request_id", "")),
            status=500,
            content_type=FHIR_JSON,
        )
    if _is_api(request):
        return problem_response(
            request,
            code="internal-error",
            title="Internal error",
            status=500,
            detail="An unexpected error occurred; quote the instance id to support.",
        )
    return server_error(request)
