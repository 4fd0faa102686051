"""Prometheus exposition of every collector registered in this process."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tenancy.modules import PUBLIC, requires_module


@requires_module(PUBLIC)
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """`/metrics` for Prometheus: unauthenticated like the probes, and free of PHI by design
    (labels carry route names, event types and tenant ids only)."""
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
