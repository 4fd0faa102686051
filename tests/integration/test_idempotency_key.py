"""`Idempotency-Key` on POST /api/v1/patients: a retry after a lost response replays the first
registration instead of creating a second patient (or being refused as its duplicate).

Covers: replay (same id, one patient, one audit row, one event, the replay access-logged), the
same key with another body (422), keys per caller and per tenant, malformed keys (400), refused
first attempts leave no key, expiry and pruning, and the race of two attempts in flight.
"""

import threading
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from django.db import connections, transaction
from django.test import Client
from django.utils import timezone

from outbox.models import OutboxEvent
from registration.models import Patient
from registration.services.inputs import NameInput
from registration.services.patients import patient_register
from tenancy.db import tenant_cursor, tenant_scope
from tenancy.errors import IdempotencyKeyReusedError
from tenancy.models import AuditEvent, IdempotentRequest, Role, Tenant
from tenancy.services.idempotency import (
    IdempotencyKey,
    IdempotentReplay,
    idempotent_request_claim,
)
from tenancy.tasks import idempotency_prune_task
from tests.conftest import owner_conninfo
from tests.factories import KeyFixture, make_api_key, make_tenant
from tests.patient_builders import api_body, patient_data

PATIENTS = "/api/v1/patients"
PROBLEM = "application/problem+json"


def someone_else(family: str) -> dict[str, Any]:
    """A body for a person nobody would take for the default patient."""
    return api_body(
        patient_data(
            names=(NameInput(family=family, given=("Tomasz",)),),
            gender="male",
            birth_date=date(1950, 7, 2),
            telecoms=(),
            addresses=(),
            contacts=(),
        )
    )


def post(key: KeyFixture, body: dict[str, Any], idempotency_key: str | None) -> Any:
    headers = dict(key.header)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return Client(headers=headers).post(PATIENTS, body, content_type="application/json")


def registered(tenant_id: Any) -> dict[str, int]:
    with tenant_scope(tenant_id):
        return {
            "patients": Patient.objects.count(),
            "audit": AuditEvent.objects.filter(action="patient.registered").count(),
            "events": OutboxEvent.objects.filter(event_type="patient.registered").count(),
            "keys": IdempotentRequest.objects.count(),
        }


@pytest.fixture
def desk() -> KeyFixture:
    return make_api_key(make_tenant(), Role.FRONT_DESK)


@pytest.mark.django_db
class TestReplay:
    def test_a_retry_replays_the_first_registration(self, desk):
        body = api_body()
        first = post(desk, body, "reg-0001")
        assert first.status_code == 201, first.content
        assert "Idempotent-Replayed" not in first

        retry = post(desk, body, "reg-0001")

        assert retry.status_code == 201, retry.content
        assert retry["Idempotent-Replayed"] == "true"
        assert retry.json()["id"] == first.json()["id"]
        assert retry["Location"] == first["Location"]
        assert retry["ETag"] == first["ETag"]
        assert registered(desk.tenant_id) == {"patients": 1, "audit": 1, "events": 1, "keys": 1}
        with tenant_scope(desk.tenant_id):
            shown = AuditEvent.objects.get(action="patient.read", object_id=first.json()["id"])
        assert shown.details == {"idempotent_replay": True}

    def test_without_the_key_the_retry_is_refused_as_a_duplicate(self, desk):
        body = api_body()
        assert post(desk, body, None).status_code == 201
        assert post(desk, body, None).status_code == 409

    def test_a_quoted_key_is_the_same_key(self, desk):
        body = api_body()
        first = post(desk, body, '"reg-0002"')
        retry = post(desk, body, "reg-0002")
        assert retry.status_code == 201
        assert retry.json()["id"] == first.json()["id"]

    def test_member_order_does_not_make_another_request(self, desk):
        body = api_body()
        first = post(desk, body, "reg-0003")
        reordered = dict(reversed(list(body.items())))
        retry = post(desk, reordered, "reg-0003")
        assert retry.status_code == 201
        assert retry.json()["id"] == first.json()["id"]

    def test_the_same_key_with_another_body_is_422_and_writes_nothing(self, desk):
        assert post(desk, api_body(), "reg-0004").status_code == 201
        other = api_body(patient_data(gender="male"))

        response = post(desk, other, "reg-0004")

        assert response.status_code == 422
        assert response["Content-Type"] == PROBLEM
        problem = response.json()
        assert problem["type"].endswith("idempotency-key-reused")
        assert "Okafor" not in response.content.decode()
        assert registered(desk.tenant_id)["patients"] == 1

    def test_keys_belong_to_one_caller_and_one_tenant(self, desk):
        assert post(desk, api_body(), "shared-key").status_code == 201
        colleague = make_api_key_in_same_tenant(desk)
        other_tenant = make_api_key(make_tenant(), Role.FRONT_DESK)
        mine = post(colleague, someone_else("Kowalski"), "shared-key")
        theirs = post(other_tenant, api_body(), "shared-key")

        assert mine.status_code == 201, mine.content
        assert "Idempotent-Replayed" not in mine
        assert theirs.status_code == 201, theirs.content
        assert "Idempotent-Replayed" not in theirs

    def test_a_refused_first_attempt_leaves_no_key(self, desk):
        assert post(desk, api_body(), None).status_code == 201
        look_alike = api_body()

        refused = post(desk, look_alike, "reg-0005")
        assert refused.status_code == 409
        assert registered(desk.tenant_id)["keys"] == 0

        again = post(desk, look_alike, "reg-0005")
        assert again.status_code == 409  # evaluated again, not replayed

    def test_a_replay_follows_todays_access_rules(self, desk):
        body = api_body()
        first = post(desk, body, "reg-0006")
        with tenant_scope(desk.tenant_id):
            Patient.objects.filter(id=first.json()["id"]).update(confidentiality="restricted")

        retry = post(desk, body, "reg-0006")

        assert retry.status_code == 403
        assert "Okafor" not in retry.content.decode()


def make_api_key_in_same_tenant(key: KeyFixture) -> KeyFixture:
    return make_api_key(Tenant.objects.get(id=key.tenant_id), Role.FRONT_DESK)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    ["", "x" * 256, "has space", "comma,is,fine,but tab\tis not", "caf\u00e9"],
    ids=["empty", "too-long", "space", "tab", "non-ascii"],
)
def test_a_malformed_key_is_400_naming_the_header(desk, header):
    response = post(desk, api_body(), header)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert "Idempotency-Key" in response.content.decode()
    assert registered(desk.tenant_id)["patients"] == 0


@pytest.mark.django_db
class TestExpiry:
    def test_an_expired_key_is_a_new_request(self, desk, settings):
        settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
        assert post(desk, api_body(), "reg-0007").status_code == 201
        with tenant_scope(desk.tenant_id):
            IdempotentRequest.objects.update(created_at=timezone.now() - timedelta(hours=25))

        response = post(desk, someone_else("Lindqvist"), "reg-0007")

        assert response.status_code == 201, response.content
        assert "Idempotent-Replayed" not in response
        with tenant_scope(desk.tenant_id):
            assert IdempotentRequest.objects.get().resource_id.hex == response.json()["id"].replace(
                "-", ""
            )

    def test_the_hourly_prune_forgets_only_expired_keys(self, desk):
        assert post(desk, api_body(), "old").status_code == 201
        assert post(desk, someone_else("Nakamura"), "new").status_code == 201
        with tenant_scope(desk.tenant_id):
            IdempotentRequest.objects.filter(key="old").update(
                created_at=timezone.now() - timedelta(hours=25)
            )

        assert idempotency_prune_task() == 1

        with tenant_scope(desk.tenant_id):
            assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["new"]


def _key(fingerprint_body: Any) -> IdempotencyKey:
    return IdempotencyKey.for_request(
        owner="api-key:test", key="race", operation="patients_register", body=fingerprint_body
    )


@pytest.mark.django_db
def test_a_claim_on_a_taken_key_replays_or_refuses(desk):
    with tenant_scope(desk.tenant_id):
        first = patient_register(actor=None, data=patient_data(), idempotency=_key({"a": 1}))
        with pytest.raises(IdempotentReplay) as replay:
            idempotent_request_claim(_key({"a": 1}), resource_id=first.id)
        assert replay.value.resource_id == first.id
        with pytest.raises(IdempotencyKeyReusedError):
            idempotent_request_claim(_key({"a": 2}), resource_id=first.id)
        with pytest.raises(IdempotentReplay):
            patient_register(actor=None, data=patient_data(), idempotency=_key({"a": 1}))


def _waits_for_a_lock(pid: int) -> bool:
    """Whether that backend waits for a lock (pg_locks is readable by any role)."""
    with psycopg.connect(owner_conninfo(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", [pid]
        ).fetchone()
    return bool(row and row[0])


@pytest.mark.parametrize("first_attempt", ["commits", "rolls back"])
def test_a_second_attempt_in_flight_waits_for_the_first(committed_db, desk, first_attempt):
    """The first attempt holds its claim uncommitted; the second blocks on the key's unique
    index, then replays the first (it committed) or registers itself (it rolled back)."""
    tenant_id = desk.tenant_id
    claimed, release = threading.Event(), threading.Event()
    first_id: list[Any] = []
    outcome: list[Any] = []
    second_pid: list[int] = []

    def first() -> None:
        try:
            with tenant_scope(tenant_id), transaction.atomic():
                patient = patient_register(
                    actor=None, data=patient_data(), idempotency=_key({"same": True})
                )
                first_id.append(patient.id)
                claimed.set()
                release.wait(timeout=30)
                if first_attempt == "rolls back":
                    raise RuntimeError("the first attempt fails after its claim")
        except RuntimeError:
            pass
        finally:
            connections.close_all()

    def second() -> None:
        try:
            with tenant_scope(tenant_id):
                with tenant_cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    second_pid.append(cursor.fetchone()[0])
                made = patient_register(
                    actor=None,
                    data=patient_data(gender="male"),
                    idempotency=_key({"same": True}),
                )
                outcome.append(("registered", made.id))
        except IdempotentReplay as replay:
            outcome.append(("replayed", replay.resource_id))
        except Exception as exc:
            outcome.append(("failed", repr(exc)))
            raise
        finally:
            connections.close_all()

    one = threading.Thread(target=first)
    one.start()
    assert claimed.wait(timeout=30)
    two = threading.Thread(target=second)
    two.start()
    for _ in range(600):
        if second_pid and _waits_for_a_lock(second_pid[0]):
            break
        threading.Event().wait(0.05)
    else:
        release.set()
        pytest.fail(f"the second attempt never waited for the first one's claim: {outcome}")
    release.set()
    one.join(timeout=30)
    two.join(timeout=30)

    counts = registered(tenant_id)
    if first_attempt == "commits":
        assert outcome == [("replayed", first_id[0])]
    else:
        assert outcome[0][0] == "registered"
        assert outcome[0][1] != first_id[0]
    assert counts["patients"] == 1
    assert counts["keys"] == 1
