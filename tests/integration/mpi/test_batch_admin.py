"""Console pages of batch jobs: start, progress, cancel; by role."""

import pytest
from django.test import Client

from mpi.models import BatchJob, BatchJobStatus
from tenancy.db import tenant_scope
from tenancy.models import Role
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db
LIST = "/admin/mpi/batchjob/"


@pytest.fixture
def tenant():
    return make_tenant()


def _jobs(tenant):
    with tenant_scope(tenant.id):
        return list(BatchJob.objects.all())


@pytest.mark.parametrize("role", [Role.DATA_STEWARD, Role.TENANT_ADMIN])
def test_start_follow_and_cancel_a_job(client: Client, tenant, role):
    client.force_login(make_user(tenant, role))
    assert client.get(LIST).status_code == 200
    assert client.get(f"{LIST}add/").status_code == 200
    bad = client.post(f"{LIST}add/", {"birth_year_from": "1990", "birth_year_to": "1980"})
    assert bad.status_code == 200
    assert "Must not be before" in bad.content.decode()
    started = client.post(f"{LIST}add/", {"birth_year_from": "1950", "birth_year_to": ""})
    assert started.status_code == 302
    (job,) = _jobs(tenant)
    assert (job.status, job.birth_year_from, job.birth_year_to) == ("queued", 1950, None)
    refused = client.post(f"{LIST}add/", {"birth_year_from": "", "birth_year_to": ""})
    assert "already queued or running" in refused.content.decode()
    listing = client.get(LIST).content.decode()
    assert "0.0%" in listing
    detail = client.get(f"{LIST}{job.pk}/change/")
    assert detail.status_code == 200
    assert "pairs/s" in detail.content.decode().lower()
    cancelled = client.post(
        LIST, {"action": "cancel_jobs", "_selected_action": [str(job.pk)]}, follow=True
    )
    assert "Cancelled 1 job(s)." in cancelled.content.decode()
    again = client.post(
        LIST, {"action": "cancel_jobs", "_selected_action": [str(job.pk)]}, follow=True
    )
    assert "already cancelled" in again.content.decode()
    assert _jobs(tenant)[0].status == BatchJobStatus.CANCELLED


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.INTEGRATOR, Role.AUDITOR])
def test_other_roles_cannot_see_jobs(client: Client, tenant, role):
    client.force_login(make_user(tenant, role))
    assert client.get(LIST).status_code == 403
    assert client.get(f"{LIST}add/").status_code == 403


def test_another_tenants_job_is_404(client: Client, tenant):
    other = make_tenant()
    with tenant_scope(other.id):
        job = BatchJob.objects.create(tenant_id=other.id)
    client.force_login(make_user(tenant, Role.DATA_STEWARD))
    assert client.get(f"{LIST}{job.pk}/change/").status_code == 404
