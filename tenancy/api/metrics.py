"""Prometheus exposition: the recorded families and the scrape-time collectors."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from tenancy.metrics import render_metrics
from tenancy.modules import PUBLIC, requires_module


@requires_module(PUBLIC)
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """`/metrics` for Prometheus: unauthenticated like the probes, and free of PHI by design
    (labels carry URL patterns, task names, event families, senders and job ids only; the
    backlog gauges are counts across tenants, never a tenant's rows)."""
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)
