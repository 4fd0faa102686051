"""Periodic MPI upkeep: the beat schedule and the per-tenant fan-out."""

import time
from datetime import date
from typing import Any

import pytest
from celery.schedules import crontab
from django.conf import settings

from mpi.models import NameFrequency
from mpi.tasks import FAN_OUT_TASKS, fan_out_task
from tenancy.db import tenant_scope
from tenancy.models import Tenant
from tests.factories import make_tenant
from tests.integration.mpi.conftest import person, register


def test_the_schedule_fans_out_nightly_frequencies_and_weekly_training():
    schedule: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE
    entries = {
        entry["kwargs"]["task_name"]: entry["schedule"]
        for entry in schedule.values()
        if entry["task"] == "mpi.fan_out"
    }
    assert set(entries) == FAN_OUT_TASKS
    assert entries["mpi.name_frequencies_refresh"] == crontab(minute=15, hour=2)
    assert entries["mpi.match_model_train"] == crontab(minute=30, hour=3, day_of_week=0)


def test_an_unknown_task_is_refused():
    with pytest.raises(ValueError, match="not a task to fan out"):
        fan_out_task.apply(kwargs={"task_name": "tenancy.tenant_usage_report"}).get()


def test_each_active_tenant_gets_its_own_task(celery_worker):
    tenants = [make_tenant(), make_tenant(), make_tenant()]
    for tenant in tenants:
        with tenant_scope(tenant.id):
            register(person("Smith", "John", date(1980, 1, 2)))
    Tenant.objects.filter(id=tenants[2].id).update(is_active=False)
    sent = fan_out_task.apply_async(kwargs={"task_name": "mpi.name_frequencies_refresh"})
    assert sent.get(timeout=20) == 2

    def counted(tenant):
        with tenant_scope(tenant.id):
            return NameFrequency.objects.filter(value="").exists()

    deadline = time.monotonic() + 30
    while not all(counted(t) for t in tenants[:2]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert counted(tenants[0])
    assert counted(tenants[1])
    assert not counted(tenants[2])
