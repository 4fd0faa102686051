"""`/api/v1/match/batches`: checklist (401/403/404/problem+json), then a job run by a real
Celery worker and followed through the API until it succeeds."""

import time
from datetime import date

import pytest
from django.test import Client

from mpi.models import BatchJob, BatchJobStatus, MatchCandidate
from tenancy.db import tenant_scope
from tenancy.models import Role
from tests.factories import make_api_key, make_tenant
from tests.integration.mpi.conftest import person, register

PROBLEM = "application/problem+json"
URL = "/api/v1/match/batches"


def post(client: Client, url, body=None, key=None):
    return client.post(
        url, body or {}, content_type="application/json", headers=key.header if key else {}
    )


def get(client: Client, url, key=None):
    return client.get(url, headers=key.header if key else {})


@pytest.mark.django_db
class TestChecklist:
    @pytest.fixture
    def tenant(self):
        return make_tenant()

    def test_anonymous_is_401(self, client, tenant):
        response = post(client, URL)
        assert response.status_code == 401
        assert response["Content-Type"] == PROBLEM

    @pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.INTEGRATOR, Role.AUDITOR])
    def test_other_roles_are_403(self, client, tenant, role):
        key = make_api_key(tenant, role)
        assert post(client, URL, key=key).status_code == 403
        assert get(client, URL, key=key).status_code == 403

    @pytest.mark.parametrize("role", [Role.DATA_STEWARD, Role.TENANT_ADMIN])
    def test_start_read_list_cancel(self, client, tenant, role):
        key = make_api_key(tenant, role)
        started = post(client, URL, {"birth_year_from": 1950, "birth_year_to": 1990}, key)
        assert started.status_code == 202
        job = started.json()
        assert started["Location"] == f"{URL}/{job['id']}"
        assert (job["status"], job["birth_year_from"], job["birth_year_to"]) == (
            "queued",
            1950,
            1990,
        )
        assert (job["done"], job["total"], job["progress"]) == (0, 0, 0.0)
        read = get(client, f"{URL}/{job['id']}", key)
        assert read.status_code == 200
        assert read.json()["id"] == job["id"]
        assert [j["id"] for j in get(client, URL, key).json()["results"]] == [job["id"]]
        again = post(client, URL, key=key)
        assert again.status_code == 409
        assert again["Content-Type"] == PROBLEM
        cancelled = post(client, f"{URL}/{job['id']}/cancel", key=key)
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        assert post(client, f"{URL}/{job['id']}/cancel", key=key).status_code == 409
        assert post(client, f"{URL}/{job['id']}/resume", key=key).status_code == 409

    def test_another_tenants_job_is_404(self, client, tenant):
        other = make_tenant()
        job = post(client, URL, key=make_api_key(other, Role.DATA_STEWARD)).json()
        key = make_api_key(tenant, Role.DATA_STEWARD)
        for response in (
            get(client, f"{URL}/{job['id']}", key),
            post(client, f"{URL}/{job['id']}/cancel", key=key),
            post(client, f"{URL}/{job['id']}/resume", key=key),
        ):
            assert response.status_code == 404
            assert response["Content-Type"] == PROBLEM
        assert get(client, URL, key).json()["results"] == []

    @pytest.mark.parametrize(
        "body",
        [
            {"birth_year_from": "1950"},
            {"birth_year_from": 1990, "birth_year_to": 1980},
            {"birth_year_to": 1200},
        ],
    )
    def test_bad_bodies_are_422(self, client, tenant, body):
        response = post(client, URL, body, make_api_key(tenant, Role.DATA_STEWARD))
        assert response.status_code in {400, 422}
        assert response["Content-Type"] == PROBLEM
        assert response.json()["errors"]

    def test_a_failed_job_resumes(self, client, tenant):
        key = make_api_key(tenant, Role.DATA_STEWARD)
        job_id = post(client, URL, key=key).json()["id"]
        with tenant_scope(tenant.id):
            BatchJob.objects.filter(id=job_id).update(status=BatchJobStatus.FAILED, error="X")
        resumed = post(client, f"{URL}/{job_id}/resume", key=key)
        assert resumed.status_code == 202
        assert (resumed.json()["status"], resumed.json()["error"]) == ("queued", "")


def test_a_worker_runs_the_job_and_progress_is_visible(client, celery_worker):
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        register(person("Smith", "John", date(1980, 3, 4), phone="555-0101"))
        register(person("Smyth", "John", date(1980, 3, 4), phone="555-0101"))
        register(person("Okafor", "Chidi", date(1970, 1, 2)))
    key = make_api_key(tenant, Role.DATA_STEWARD)
    job_id = post(client, URL, key=key).json()["id"]
    deadline = time.monotonic() + 30
    job = get(client, f"{URL}/{job_id}", key).json()
    while job["status"] in {"queued", "running"} and time.monotonic() < deadline:
        time.sleep(0.2)
        job = get(client, f"{URL}/{job_id}", key).json()
    assert job["status"] == "succeeded", job
    assert job["done"] == job["total"] == 5 * 3 + 2  # five name rules, the phone rule
    assert job["progress"] == 1.0
    assert job["pairs_scored"] == 1
    assert job["proposals"]["inserted"] == 1
    assert job["model_version"] == "default-1"
    with tenant_scope(tenant.id):
        assert MatchCandidate.objects.count() == 1
