"""The bench-only ceiling endpoint: absent unless REGSVC_BENCH_ENDPOINTS=1, and what it does."""

import importlib

import pytest
from django.test import Client, override_settings
from django.urls import NoReverseMatch, clear_url_caches, reverse

import config.urls
from registration.models import Patient
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent, Role
from tests.factories import make_api_key, make_tenant

pytestmark = pytest.mark.django_db


def test_the_bench_endpoint_is_not_mounted_by_default(client: Client) -> None:
    key = make_api_key(make_tenant(), Role.INTEGRATOR)

    with pytest.raises(NoReverseMatch):
        reverse("bench-patient-row")
    response = client.post(
        "/bench/patient-row", {}, content_type="application/json", headers=key.header
    )
    assert response.status_code == 404
    assert not any("bench" in str(p) for p in config.urls.urlpatterns)


def test_the_flag_mounts_it_and_only_the_flag() -> None:
    try:
        with override_settings(BENCH_ENDPOINTS=True):
            clear_url_caches()
            importlib.reload(config.urls)
            assert reverse("bench-patient-row") == "/bench/patient-row"
    finally:
        importlib.reload(config.urls)
        clear_url_caches()
    with pytest.raises(NoReverseMatch):
        reverse("bench-patient-row")


@pytest.mark.urls("config.bench_urls")
def test_it_inserts_one_bare_row_in_the_callers_tenant(client: Client) -> None:
    tenant, other = make_tenant(), make_tenant()
    key = make_api_key(tenant, Role.INTEGRATOR)

    response = client.post(
        "/bench/patient-row",
        {"gender": "female", "names": [{"family": "Ignored"}]},
        content_type="application/json",
        headers=key.header,
    )

    assert response.status_code == 201
    with tenant_scope(tenant.id):
        row = Patient.objects.get(id=response.json()["id"])
        assert row.gender == "female"
        assert not row.names.exists()  # a bare row: no children, no audit
        assert not AuditEvent.objects.filter(object_id=str(row.id)).exists()
    with tenant_scope(other.id):
        assert not Patient.objects.filter(id=row.id).exists()


@pytest.mark.urls("config.bench_urls")
def test_it_keeps_the_role_check_and_the_authentication(client: Client) -> None:
    tenant = make_tenant()
    auditor = make_api_key(tenant, Role.AUDITOR)

    assert client.post("/bench/patient-row", {}, content_type="application/json").status_code == 401
    refused = client.post(
        "/bench/patient-row", {}, content_type="application/json", headers=auditor.header
    )
    assert refused.status_code == 403
    with tenant_scope(tenant.id):
        assert not Patient.objects.exists()
