"""`/metrics`: every family the alert rules use exists and moves when its event happens."""

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from config.celery import app
from outbox.envelope import parse_incoming
from outbox.services.inbox import InboxOutcome, inbox_receive
from outbox.services.outbox import outbox_enqueue
from tenancy.db import tenant_scope
from tenancy.metrics import batch_progress_set, breakglass_grant_counted
from tenancy.models import Role
from tests.factories import make_api_key, make_tenant
from tests.integration.outbox.helpers import cloudevent, entitlement_data
from tests.patient_builders import api_body, patient_data

FAMILIES = {
    "http_request_duration_seconds": "histogram",
    "http_requests": "counter",
    "regsvc_db_query_duration_seconds": "histogram",
    "celery_task_duration_seconds": "histogram",
    "celery_task_failures": "counter",
    "regsvc_outbox_lag_seconds": "gauge",
    "regsvc_outbox_pending": "gauge",
    "regsvc_outbox_dead_events": "gauge",
    "regsvc_inbox_dead_messages": "gauge",
    "regsvc_event_backlog_up": "gauge",
    "regsvc_outbox_events_dead": "counter",
    "regsvc_inbox_messages_dead": "counter",
    "regsvc_outbox_metrics_up": "gauge",
    "regsvc_celery_queue_length": "gauge",
    "regsvc_celery_queue_up": "gauge",
    "regsvc_match_duration_seconds": "histogram",
    "regsvc_batch_progress_ratio": "gauge",
    "regsvc_breakglass_grants": "counter",
    "regsvc_readiness_ok": "gauge",
}


@app.task(name="tests.metrics.succeeds")
def succeeds() -> str:
    return "ok"


@app.task(name="tests.metrics.fails")
def fails() -> None:
    raise ValueError("failed on purpose")


def scrape() -> dict[str, Any]:
    """Every family of `/metrics`, by name (counters without their `_total`)."""
    response = Client().get("/metrics")
    assert response.status_code == 200
    return {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def value(families: dict[str, Any], sample_name: str, **labels: str) -> float:
    """One sample's value (0 when the series does not exist yet)."""
    for family in families.values():
        for sample in family.samples:
            if sample.name == sample_name and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                return float(sample.value)
    return 0.0


@pytest.fixture
def patient_key(committed_db):
    tenant = make_tenant()
    return tenant, make_api_key(tenant, Role.FRONT_DESK)


def test_every_family_is_exposed_with_its_type(db):
    batch_progress_set("warm-up", 1, 1)
    breakglass_grant_counted(uuid.uuid4())
    Client().get("/readyz")
    families = scrape()
    for name, kind in FAMILIES.items():
        assert name in families, name
        assert families[name].type == kind, name


def test_requests_are_counted_by_route_method_and_status(db):
    patient_id = uuid.uuid4()
    before = scrape()
    client = Client()
    assert client.get(f"/api/v1/patients/{patient_id}").status_code == 401
    assert client.get("/no/such/page").status_code == 404
    after = scrape()
    route = "api/v1/patients/<uuid:patient_id>"
    labels = {"route": route, "method": "GET", "status": "401"}
    assert value(after, "http_requests_total", **labels) == (
        value(before, "http_requests_total", **labels) + 1
    )
    assert value(after, "http_request_duration_seconds_count", **labels) == (
        value(before, "http_request_duration_seconds_count", **labels) + 1
    )
    unmatched = {"route": "<unmatched>", "method": "GET", "status": "404"}
    assert value(after, "http_requests_total", **unmatched) == (
        value(before, "http_requests_total", **unmatched) + 1
    )
    body = Client().get("/metrics").content.decode()
    assert str(patient_id) not in body  # never the raw path
    assert "no/such/page" not in body


def test_database_time_grows_with_queries(patient_key):
    _, key = patient_key
    before = value(scrape(), "regsvc_db_query_duration_seconds_count")
    response = Client().get("/api/v1/patients?family=okafor", headers=key.header)
    assert response.status_code == 200
    after = scrape()
    assert value(after, "regsvc_db_query_duration_seconds_count") > before + 2
    assert value(after, "regsvc_db_query_duration_seconds_sum") > 0


def test_match_latency_is_observed(patient_key):
    _, key = patient_key
    before = value(scrape(), "regsvc_match_duration_seconds_count")
    body = {**api_body(patient_data()), "count": 5}
    response = Client().post(
        "/api/v1/match", data=json.dumps(body), content_type="application/json", headers=key.header
    )
    assert response.status_code == 200, response.content
    assert value(scrape(), "regsvc_match_duration_seconds_count") == before + 1


def test_celery_task_durations_and_failures(celery_worker):
    before = scrape()
    assert succeeds.delay().get(timeout=20) == "ok"
    failed = fails.delay()
    failed.get(timeout=20, propagate=False)
    assert failed.failed()
    after = scrape()
    ok = {"task": "tests.metrics.succeeds"}
    bad = {"task": "tests.metrics.fails"}
    assert value(after, "celery_task_duration_seconds_count", **ok) == (
        value(before, "celery_task_duration_seconds_count", **ok) + 1
    )
    assert value(after, "celery_task_duration_seconds_count", **bad) == (
        value(before, "celery_task_duration_seconds_count", **bad) + 1
    )
    assert value(after, "celery_task_failures_total", **bad) == (
        value(before, "celery_task_failures_total", **bad) + 1
    )
    assert value(after, "celery_task_failures_total", **ok) == value(
        before, "celery_task_failures_total", **ok
    )


def test_outbox_and_inbox_backlog_are_counted_at_scrape_time(committed_db, owner_connection):
    families = scrape()
    assert value(families, "regsvc_event_backlog_up") == 1
    assert value(families, "regsvc_outbox_pending") == 0
    assert value(families, "regsvc_outbox_lag_seconds") == 0
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        events = [
            outbox_enqueue(
                event_type="patient.registered",
                aggregate_type="patient",
                aggregate_id=patient_id,
                payload={"patient_id": str(patient_id), "version": 1},
            )
            for patient_id in (uuid.uuid4(), uuid.uuid4())
        ]
    time.sleep(0.05)
    families = scrape()
    assert value(families, "regsvc_outbox_pending") == 2
    assert value(families, "regsvc_outbox_lag_seconds") >= 0.05
    assert value(families, "regsvc_outbox_dead_events") == 0

    owner_connection.execute(
        "UPDATE outbox_outboxevent SET status = 'dead' WHERE event_id = %s", [events[0].event_id]
    )
    poison = parse_incoming(
        cloudevent(
            tenant_id=tenant.id,
            event_type="licensing.entitlement-changed",
            data={**entitlement_data(tenant.id), "module": 42},  # breaks the schema
        )
    )
    assert inbox_receive(sender="licensing", event=poison).outcome == InboxOutcome.DEAD
    families = scrape()
    assert value(families, "regsvc_outbox_pending") == 1
    assert value(families, "regsvc_outbox_dead_events") == 1
    assert value(families, "regsvc_inbox_dead_messages") == 1


def test_batch_progress_break_glass_and_readiness(db, settings):
    batch_progress_set("job-7", 25, 100)
    tenant_id, other_id = uuid.uuid4(), uuid.uuid4()
    breakglass_grant_counted(tenant_id)
    breakglass_grant_counted(tenant_id)
    breakglass_grant_counted(other_id)
    assert Client().get("/readyz").status_code == 200
    families = scrape()
    assert value(families, "regsvc_batch_progress_ratio", job="job-7") == 0.25
    assert value(families, "regsvc_breakglass_grants_total", tenant=str(tenant_id)) == 2
    assert value(families, "regsvc_breakglass_grants_total", tenant=str(other_id)) == 1
    assert value(families, "regsvc_readiness_ok") == 1

    batch_progress_set("job-7", 100, 100)
    batch_progress_set("job-empty", 0, 0)
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    assert Client().get("/readyz").status_code == 503
    families = scrape()
    assert value(families, "regsvc_batch_progress_ratio", job="job-7") == 1
    assert value(families, "regsvc_batch_progress_ratio", job="job-empty") == 1
    assert value(families, "regsvc_readiness_ok") == 0


_RECORD = """
import uuid
from tenancy.metrics import breakglass_grant_counted, http_request_observe
http_request_observe(route="api/v1/patients", method="GET", status=200, seconds=0.2)
breakglass_grant_counted(uuid.UUID("7d0c5b1e-0000-4000-8000-000000000001"))
"""
_RENDER = """
import sys
from prometheus_client import generate_latest
from tenancy.metrics import process_registry
sys.stdout.write(generate_latest(process_registry()).decode())
"""


@pytest.fixture
def multiprocess_dir(tmp_path: Path) -> dict[str, str]:
    return {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}


def test_values_of_several_processes_add_up(multiprocess_dir):
    """gunicorn workers (or prefork children) share PROMETHEUS_MULTIPROC_DIR."""
    for _ in range(2):
        subprocess.run(  # noqa: S603 - the test's own interpreter and code
            [sys.executable, "-c", _RECORD],
            cwd=settings.BASE_DIR,
            env=multiprocess_dir,
            check=True,
        )
    rendered = subprocess.run(  # noqa: S603 - idem
        [sys.executable, "-c", _RENDER],
        cwd=settings.BASE_DIR,
        env=multiprocess_dir,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    families = {f.name: f for f in text_string_to_metric_families(rendered)}
    labels = {"route": "api/v1/patients", "method": "GET", "status": "200"}
    assert value(families, "http_requests_total", **labels) == 2
    assert value(families, "http_request_duration_seconds_count", **labels) == 2
    tenant = "7d0c5b1e-0000-4000-8000-000000000001"
    assert value(families, "regsvc_breakglass_grants_total", tenant=tenant) == 2


def test_a_failing_backlog_query_is_reported_not_raised(db):
    from django.db import DatabaseError, connection

    from outbox.metrics import BacklogCollector

    with connection.cursor() as cursor:  # abort the test's transaction: every query now fails
        with pytest.raises(DatabaseError):
            cursor.execute("SELECT 1/0")
        families = {f.name: f for f in BacklogCollector().collect()}
    assert list(families) == ["regsvc_event_backlog_up"]
    assert families["regsvc_event_backlog_up"].samples[0].value == 0


def test_dead_events_and_messages_are_counted_by_family_and_sender(db):
    """The counters the dead-event alerts use (`increase(...[15m]) > 0`), deployment-wide."""
    from outbox.metrics import count_many

    before = scrape()
    count_many({("outbox_events_dead", "patient"): 2, ("inbox_messages_dead", "licensing"): 1})
    after = scrape()
    assert value(after, "regsvc_outbox_metrics_up") == 1
    for sample, labels, added in (
        ("regsvc_outbox_events_dead_total", {"family": "patient"}, 2),
        ("regsvc_inbox_messages_dead_total", {"sender": "licensing"}, 1),
    ):
        assert value(after, sample, **labels) == value(before, sample, **labels) + added


def test_celery_queue_lengths_are_read_from_the_broker(db, settings):
    """`regsvc_celery_queue_length{queue}` (the worker autoscaler's metric) is LLEN of every
    configured queue; an unreachable broker is reported, not raised."""
    import redis

    settings.CELERY_TASK_DEFAULT_QUEUE = "metrics-test-default"
    settings.CELERY_TASK_ROUTES = {"tests.metrics.*": {"queue": "metrics-test-batch"}}
    settings.CELERY_TASK_QUEUES = ["metrics-test-declared"]
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("metrics-test-default", "metrics-test-batch")
    try:
        broker.rpush("metrics-test-batch", "m1", "m2", "m3")
        families = scrape()
        assert value(families, "regsvc_celery_queue_up") == 1
        assert value(families, "regsvc_celery_queue_length", queue="metrics-test-batch") == 3
        assert value(families, "regsvc_celery_queue_length", queue="metrics-test-default") == 0
        queues = {s.labels["queue"] for s in families["regsvc_celery_queue_length"].samples}
        assert queues == {"metrics-test-default", "metrics-test-batch", "metrics-test-declared"}
        assert families["regsvc_celery_queue_length"].type == "gauge"
    finally:
        broker.delete("metrics-test-default", "metrics-test-batch")

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    response = Client().get("/metrics")
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    assert value(families, "regsvc_celery_queue_up") == 0
    assert "regsvc_celery_queue_length" not in families


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/fhir/Patient/$match", "fhir/Patient/$match"),
        ("/fhir/Patient/$ihe-pix", "fhir/Patient/$ihe-pix"),
        ("/fhir/Patient/$no-such-operation", "fhir/Patient/$<str:name>"),
    ],
)
def test_each_fhir_operation_has_its_own_route_label(db, path, route):
    """`$match` is measured apart from the other operations (the match SLO selects it)."""
    before = scrape()
    status = str(Client().post(path, data="{}", content_type="application/fhir+json").status_code)
    labels = {"route": route, "method": "POST", "status": status}
    assert value(scrape(), "http_requests_total", **labels) == (
        value(before, "http_requests_total", **labels) + 1
    )
