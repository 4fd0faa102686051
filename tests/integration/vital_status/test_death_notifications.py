"""Civil-registry death notifications: matched by identifier, then by the MPI (one CERTAIN
match only), otherwise queued for a steward; duplicates change nothing; end to end through the
real Redis stream and a real Celery worker."""

import time
import uuid
from dataclasses import replace
from datetime import date

import pytest
import redis
from django.conf import settings
from django.test import Client

from mpi.inbox import death_notified
from mpi.services.death_notifications import (
    DeathNotification,
    Outcome,
    death_notification_apply,
)
from outbox.envelope import STREAM_FIELD
from outbox.handlers import handler_for
from outbox.models import InboxMessage
from outbox.tasks import inbox_consume_task
from registration.models import (
    Confidentiality,
    DeathNotificationReview,
    Patient,
    ReviewReason,
    ReviewStatus,
    VitalStatusRecord,
)
from registration.selectors.vital_status import (
    death_notification_reviews,
    vital_status_current,
    vital_status_history,
)
from registration.services.death_notifications import (
    death_notification_dismiss,
    death_notification_queue,
    death_notification_record,
)
from registration.services.inputs import IdentifierInput
from registration.services.patients import patient_deactivate
from registration.services.vital_status import DeathDate, vital_status_record_death
from tenancy.db import tenant_scope
from tenancy.errors import ConflictError, NotFoundError, ValidationFailedError
from tenancy.models import AuditEvent, Role
from tests.factories import make_tenant, make_user
from tests.integration.mpi.conftest import SSN, person, register
from tests.integration.outbox.helpers import DEATH, cloudevent, delete_prefixed_keys

SMITH = person(
    "Smith",
    "John",
    date(1950, 3, 14),
    gender="male",
    ssn="123-45-6789",
    phone="617-555-0142",
    line="12 Elm Street",
    postal_code="02118",
)


def notification(**changes) -> DeathNotification:
    base = {
        "inbox_message_id": 1,
        "notification_id": f"CR-{uuid.uuid4().hex[:8]}",
        "identifier_system": SSN,
        "identifier_value": "123-45-6789",
        "death": DeathDate(date(2024, 5, 17)),
    }
    return DeathNotification(**{**base, **changes})


def reviews() -> list[DeathNotificationReview]:
    return list(DeathNotificationReview.objects.order_by("id"))


@pytest.fixture
def scope(db):
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        yield tenant


class TestMatching:
    def test_the_identifier_names_the_patient(self, scope):
        smith = register(SMITH)
        note = notification()
        applied = death_notification_apply(note)
        assert (applied.outcome, applied.patient_id) == (Outcome.RECORDED, smith.id)
        (entry,) = vital_status_history(patient_id=smith.id)
        assert (entry.source, entry.verification, entry.external_reference) == (
            "civil_registry",
            "reported",
            note.notification_id,
        )
        # The same notification again (another message id) changes nothing.
        assert death_notification_apply(note).outcome == Outcome.DUPLICATE
        # Another notification of the same death changes nothing either.
        again = death_notification_apply(notification())
        assert again.outcome == Outcome.ALREADY_RECORDED
        assert len(vital_status_history(patient_id=smith.id)) == 1
        assert reviews() == []

    def test_a_different_date_for_a_deceased_patient_is_queued(self, scope):
        smith = register(SMITH)
        death_notification_apply(notification())
        applied = death_notification_apply(notification(death=DeathDate(date(2024, 6, 1))))
        assert (applied.outcome, applied.reason) == (Outcome.QUEUED, "death_date_conflict")
        (review,) = reviews()
        assert review.candidate_ids == [smith.id]
        assert vital_status_current(patient_id=smith.id).deceased_date == date(2024, 5, 17)

    def test_a_birth_date_that_disagrees_is_queued(self, scope):
        smith = register(SMITH)
        applied = death_notification_apply(notification(birth_date=date(1951, 3, 14)))
        assert applied.reason == "birth_date_conflict"
        assert not vital_status_current(patient_id=smith.id).deceased

    def test_an_identifier_held_by_someone_of_another_family_is_queued(self, scope):
        # A mistyped number on either side that happens to be another patient's: the family
        # name the registry sends does not fit, so nobody is marked dead without a steward.
        smith = register(SMITH)
        applied = death_notification_apply(notification(family="Doe", given=("Jane",)))
        assert (applied.outcome, applied.reason) == (Outcome.QUEUED, "name_conflict")
        (review,) = reviews()
        assert review.candidate_ids == [smith.id]
        assert not vital_status_current(patient_id=smith.id).deceased

    @pytest.mark.parametrize("family", ["SMÍTH", "Smith-Jones", "de Smith", "van der"])
    def test_a_family_name_that_fits_in_any_spelling_is_recorded(self, scope, family):
        smith = register(SMITH)
        applied = death_notification_apply(notification(family=family))
        assert (applied.outcome, applied.patient_id) == (Outcome.RECORDED, smith.id)

    def test_a_restricted_patients_death_is_recorded_all_the_same(self, scope):
        smith = register(replace(SMITH, confidentiality=Confidentiality.RESTRICTED))
        applied = death_notification_apply(notification())
        assert (applied.outcome, applied.patient_id) == (Outcome.RECORDED, smith.id)
        assert vital_status_current(patient_id=smith.id).deceased

    def test_an_impossible_date_is_queued(self, scope):
        smith = register(SMITH)
        applied = death_notification_apply(notification(death=DeathDate(date(1949, 1, 1))))
        assert applied.reason == "invalid_date"
        assert reviews()[0].candidate_ids == [smith.id]

    def test_an_inactive_holder_is_queued(self, scope):
        smith = register(SMITH)
        patient_deactivate(actor=None, patient_id=smith.id, expected_version=1, reason="merged")
        assert death_notification_apply(notification()).reason == "patient_inactive"

    def test_nobody_and_no_demographics_is_queued(self, scope):
        register(SMITH)
        applied = death_notification_apply(notification(identifier_value="999-99-9999"))
        assert (applied.outcome, applied.reason) == (Outcome.QUEUED, "no_match")
        assert reviews()[0].candidate_ids == []

    def test_one_certain_mpi_match_is_recorded(self, scope):
        smith = register(SMITH)
        # The registry writes the number without dashes: not the stored identifier, the same
        # number to the matcher, which with name, birth date and sex is CERTAIN.
        applied = death_notification_apply(
            notification(
                identifier_value="123456789",
                family="Smith",
                given=("John",),
                birth_date=date(1950, 3, 14),
                gender="male",
            )
        )
        assert (applied.outcome, applied.patient_id) == (Outcome.RECORDED, smith.id)

    def test_a_probable_mpi_match_goes_to_a_steward(self, scope):
        smith = register(SMITH)
        applied = death_notification_apply(
            notification(
                identifier_value="987-65-4321",
                family="Smyth",
                given=("Jon",),
                birth_date=date(1950, 3, 14),
                gender="male",
            )
        )
        assert (applied.outcome, applied.reason) == (Outcome.QUEUED, "uncertain")
        assert reviews()[0].candidate_ids == [smith.id]
        assert not vital_status_current(patient_id=smith.id).deceased

    def test_two_certain_matches_are_ambiguous(self, scope):
        first = register(SMITH)
        # A duplicate registration nobody merged yet (the number typed without dashes).
        second = register(replace(SMITH, identifiers=(IdentifierInput(SSN, "123456789"),)))
        applied = death_notification_apply(
            notification(
                identifier_value="123 45 6789",
                family="Smith",
                given=("John",),
                birth_date=date(1950, 3, 14),
                gender="male",
            )
        )
        assert applied.reason == "ambiguous"
        assert set(reviews()[0].candidate_ids) == {first.id, second.id}

    def test_a_deceased_candidate_is_never_certain(self, scope):
        smith = register(SMITH)
        vital_status_record_death(
            actor=None,
            patient_id=smith.id,
            expected_version=None,
            death=DeathDate(date(2024, 5, 1)),
            source="hospital",
            channel="rest",
        )
        applied = death_notification_apply(
            notification(
                identifier_value="123456789",
                family="Smith",
                given=("John",),
                birth_date=date(1950, 3, 14),
                gender="male",
            )
        )
        assert applied.reason == "uncertain"

    def test_a_month_in_the_birth_month_is_recorded_with_its_precision(self, scope):
        smith = register(SMITH)
        applied = death_notification_apply(
            notification(death=DeathDate(date(1950, 3, 20), "month"))
        )
        assert applied.outcome == Outcome.RECORDED
        current = vital_status_current(patient_id=smith.id)
        assert (current.deceased_date, current.deceased_date_precision) == (
            date(1950, 3, 1),
            "month",
        )
        # The same death again from the registry, at the same precision: nothing changes.
        again = death_notification_apply(notification(death=DeathDate(date(1950, 3, 2), "month")))
        assert again.outcome == Outcome.ALREADY_RECORDED
        # A day the registry now names is a different claim: a steward decides (correct or not).
        day = death_notification_apply(notification(death=DeathDate(date(1950, 3, 1))))
        assert (day.outcome, day.reason) == (Outcome.QUEUED, "death_date_conflict")
        assert len(vital_status_history(patient_id=smith.id)) == 1

    def test_a_year_before_the_birth_year_is_queued(self, scope):
        smith = register(SMITH)
        applied = death_notification_apply(notification(death=DeathDate(date(1949, 6, 1), "year")))
        assert applied.reason == "invalid_date"
        assert not vital_status_current(patient_id=smith.id).deceased


class TestStewardWorklist:
    def test_record_or_dismiss_a_queued_notification(self, scope):
        smith = register(SMITH)
        death_notification_apply(notification(identifier_value="999-99-9999"))
        death_notification_apply(notification(identifier_value="999-99-9998"))
        first, second = reviews()
        entry = death_notification_record(actor=None, review_id=first.id, patient_id=smith.id)
        assert (entry.source, entry.external_reference) == (
            "civil_registry",
            first.notification_id,
        )
        with pytest.raises(ConflictError):
            death_notification_record(actor=None, review_id=first.id, patient_id=smith.id)
        with pytest.raises(ValidationFailedError):
            death_notification_dismiss(actor=None, review_id=second.id, reason="")
        death_notification_dismiss(actor=None, review_id=second.id, reason="not our patient")
        assert list(death_notification_reviews()) == []
        assert [r.status for r in reviews()] == [ReviewStatus.RECORDED, ReviewStatus.DISMISSED]
        with pytest.raises(NotFoundError):
            death_notification_dismiss(actor=None, review_id=999_999, reason="x")
        # A notification a steward already handled is a duplicate when it comes again.
        assert (
            death_notification_apply(notification(notification_id=second.notification_id)).outcome
            == Outcome.DUPLICATE
        )

    def test_a_queued_notification_keeps_the_registrys_precision(self, scope):
        smith = register(SMITH)
        applied = death_notification_apply(
            notification(
                identifier_value="999-99-9999", death=DeathDate(date(2024, 5, 17), "month")
            )
        )
        assert applied.outcome == Outcome.QUEUED
        (review,) = reviews()
        assert (review.date_of_death, review.date_of_death_precision) == (date(2024, 5, 1), "month")
        entry = death_notification_record(actor=None, review_id=review.id, patient_id=smith.id)
        assert (entry.deceased_date, entry.deceased_date_precision) == (date(2024, 5, 1), "month")
        assert entry.verification == "reported"

    def test_a_notification_without_a_date_cannot_be_queued(self, scope):
        with pytest.raises(ValueError, match="date of death"):
            death_notification_queue(
                inbox_message_id=1,
                notification_id="CR-x",
                identifier_system=SSN,
                identifier_value="1",
                death=DeathDate(None),
                certificate_number="",
                reason=ReviewReason.NO_MATCH,
                candidate_ids=[],
            )
        assert reviews() == []


def test_the_mpi_app_took_the_handler_over():
    assert handler_for(DEATH, 1) is death_notified


@pytest.fixture
def bus(settings, committed_db):
    prefix = f"t{uuid.uuid4().hex[:10]}."
    settings.OUTBOX_STREAM_PREFIX = prefix
    settings.OUTBOX_BUS_URL = settings.REDIS_URL
    settings.INBOX_STREAMS = {"civil-registry": f"{prefix}in.civil-registry"}
    settings.INBOX_DEAD_LETTER_STREAM = f"{prefix}in.dead"
    settings.INBOX_CLAIM_IDLE_MS = 0
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    yield client
    delete_prefixed_keys(client, prefix)
    client.close()


def death_message(tenant, *, value: str, notification_id: str, **extra) -> str:
    data = {
        "tenant_id": str(tenant.id),
        "notification_id": notification_id,
        "person_identifier": {"system": SSN, "value": value},
        "date_of_death": "2024-05-17",
        "registered_at": "2024-05-18T09:00:00+00:00",
        **extra,
    }
    return cloudevent(tenant_id=tenant.id, event_type=DEATH, data=data)


def wait_for(predicate, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


class TestEndToEnd:
    def test_stream_to_worker_to_history_and_worklist(self, bus, celery_worker):
        tenant = make_tenant()
        with tenant_scope(tenant.id):
            smith = register(SMITH)
        stream = settings.INBOX_STREAMS["civil-registry"]
        known = death_message(tenant, value="123-45-6789", notification_id="CR-1")
        bus.xadd(stream, {STREAM_FIELD: known})
        bus.xadd(stream, {STREAM_FIELD: known})  # redelivered by the sender
        resent = death_message(tenant, value="123-45-6789", notification_id="CR-1")
        bus.xadd(stream, {STREAM_FIELD: resent})  # same notification, new message id
        unknown = death_message(
            tenant,
            value="555-55-5555",
            notification_id="CR-2",
            person={"family": "Nobody", "given": ["Known"], "birth_date": "1960-01-01"},
        )
        bus.xadd(stream, {STREAM_FIELD: unknown})

        inbox_consume_task.delay()

        def settled() -> bool:
            with tenant_scope(tenant.id):
                return InboxMessage.objects.filter(status="processed").count() == 3

        wait_for(settled)
        with tenant_scope(tenant.id):
            (entry,) = VitalStatusRecord.objects.filter(patient_id=smith.id)
            assert (entry.source, entry.external_reference) == ("civil_registry", "CR-1")
            assert Patient.objects.get(id=smith.id).vital_status == "deceased"
            (review,) = DeathNotificationReview.objects.all()
            assert (review.notification_id, review.reason) == ("CR-2", "no_match")
            handled = sorted(
                e.details["handled"]
                for e in AuditEvent.objects.filter(action="civil_registry.death_notified")
            )
            assert handled == ["duplicate", "queued", "recorded"]

        # The steward sees both worklists in the console.
        steward = make_user(tenant, Role.DATA_STEWARD)
        client = Client()
        client.force_login(steward)
        page = client.get("/admin/registration/deathnotificationreview/")
        assert page.status_code == 200
        assert "CR-2" in page.content.decode()
