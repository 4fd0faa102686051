"""Vital status services: every rule of the issue, the history, audit rows and events."""

from datetime import date, timedelta

import psycopg
import pytest
from django.db import transaction
from django.utils import timezone

from outbox.models import OutboxEvent
from outbox.registry import schema_errors
from registration.models import Confidentiality, Patient, VitalStatusRecord
from registration.selectors.vital_status import (
    deceased_among,
    unverified_deaths,
    vital_status_current,
    vital_status_history,
)
from registration.services.patients import (
    DeceasedDuplicateError,
    DuplicateSuspectedError,
    PatientInactiveError,
    patient_deactivate,
    patient_register,
)
from registration.services.vital_status import (
    DeathDate,
    VitalStatusConflictError,
    vital_status_correct,
    vital_status_record_death,
    vital_status_refute,
    vital_status_verify,
)
from tenancy.db import tenant_scope
from tenancy.errors import NotFoundError, PreconditionFailedError, ValidationFailedError
from tenancy.models import AuditEvent, Role
from tenancy.principal import Principal
from tests.conftest import owner_conninfo
from tests.factories import make_tenant
from tests.patient_builders import patient_data

pytestmark = pytest.mark.django_db

DAY = DeathDate(date(2024, 5, 17))


@pytest.fixture
def scope():
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        yield tenant


def steward(tenant) -> Principal:
    return Principal(tenant_id=tenant.id, roles=frozenset({Role.DATA_STEWARD}), user_id=7)


def desk(tenant) -> Principal:
    return Principal(tenant_id=tenant.id, roles=frozenset({Role.FRONT_DESK}), user_id=8)


def register(**changes) -> Patient:
    return patient_register(actor=None, data=patient_data(**changes))


def record(patient, death=DAY, *, version=None, source="hospital", **kwargs):
    return vital_status_record_death(
        actor=None,
        patient_id=patient.id,
        expected_version=version,
        death=death,
        source=source,
        channel="rest",
        **kwargs,
    )


def events(patient) -> list[dict[str, object]]:
    return [
        e.payload
        for e in OutboxEvent.objects.filter(
            event_type="patient.vital-status-changed", aggregate_id=str(patient.id)
        ).order_by("id")
    ]


class TestRecordDeath:
    def test_records_a_reported_death_with_history_audit_and_event(self, scope):
        patient = register()
        entry = record(patient, version=1, note="phone call from the ward")
        current = vital_status_current(patient_id=patient.id)
        assert current.deceased
        assert (current.deceased_date, current.deceased_date_precision) == (
            date(2024, 5, 17),
            "day",
        )
        assert (current.verification, current.source, current.patient_version) == (
            "reported",
            "hospital",
            2,
        )
        assert current.record_id == entry.id
        assert entry.reason == "phone call from the ward"
        (payload,) = events(patient)
        assert payload["deceased"] is True
        assert payload["vital_status_id"] == str(entry.id)
        assert (payload["version"], payload["source"]) == (2, "rest")
        assert schema_errors("patient.vital-status-changed", 1, payload) == []
        audit = AuditEvent.objects.get(action="patient.vital_status_recorded")
        assert audit.details["vital_status_id"] == str(entry.id)
        assert "2024" not in str(audit.details)  # no date of death (PHI) in the audit details

    @pytest.mark.parametrize(
        ("death", "stored"),
        [
            (DeathDate(date(2024, 5, 17), "month", estimated=True), date(2024, 5, 1)),
            (DeathDate(date(2024, 5, 17), "year"), date(2024, 1, 1)),
            (DeathDate(None, "day"), None),
        ],
    )
    def test_precision_keeps_only_what_is_known(self, scope, death, stored):
        patient = register()
        entry = record(patient, death)
        assert entry.deceased_date == stored
        assert entry.deceased_date_precision == ("" if stored is None else death.precision)
        assert entry.deceased_date_estimated is death.estimated
        assert Patient.objects.get(id=patient.id).deceased_date == stored

    def test_a_death_in_the_future_is_refused(self, scope):
        patient = register()
        tomorrow = timezone.localdate() + timedelta(days=1)
        with pytest.raises(ValidationFailedError) as error:
            record(patient, DeathDate(tomorrow))
        assert error.value.errors[0].code == "in_future"
        assert error.value.status == 422
        assert not VitalStatusRecord.objects.exists()
        assert events(patient) == []

    def test_this_month_is_not_the_future(self, scope):
        patient = register()
        record(patient, DeathDate(timezone.localdate(), "month"))
        assert vital_status_current(patient_id=patient.id).deceased

    def test_a_death_before_birth_is_refused(self, scope):
        patient = register(birth_date=date(1987, 3, 14))
        with pytest.raises(ValidationFailedError) as error:
            record(patient, DeathDate(date(1987, 3, 13)))
        assert error.value.errors[0].code == "before_birth"
        with pytest.raises(ValidationFailedError):
            record(patient, DeathDate(date(1986, 12, 1), "month"))
        with pytest.raises(ValidationFailedError):
            record(patient, DeathDate(date(1986, 1, 1), "year"))
        assert Patient.objects.get(id=patient.id).vital_status == "alive"

    def test_year_or_month_of_birth_is_not_before_birth(self, scope):
        patient = register(birth_date=date(1987, 3, 14))
        record(patient, DeathDate(date(1987, 3, 1), "month"))
        assert vital_status_current(patient_id=patient.id).deceased

    def test_a_stale_version_is_refused(self, scope):
        patient = register()
        with pytest.raises(PreconditionFailedError):
            record(patient, version=5)

    def test_recording_twice_is_a_conflict(self, scope):
        patient = register()
        record(patient)
        with pytest.raises(VitalStatusConflictError):
            record(patient)
        assert len(vital_status_history(patient_id=patient.id)) == 1

    def test_unknown_source_and_long_note_are_refused(self, scope):
        patient = register()
        with pytest.raises(ValidationFailedError):
            record(patient, source="gossip")
        with pytest.raises(ValidationFailedError):
            record(patient, note="x" * 501)
        with pytest.raises(ValueError, match="channel"):
            vital_status_record_death(
                actor=None,
                patient_id=patient.id,
                expected_version=None,
                death=DAY,
                source="hospital",
                channel="pigeon",
            )

    def test_unknown_and_inactive_patients_are_refused(self, scope):
        patient = register()
        patient_deactivate(actor=None, patient_id=patient.id, expected_version=1, reason="test")
        with pytest.raises(PatientInactiveError):
            record(patient)
        with pytest.raises(NotFoundError):
            vital_status_current(patient_id=Patient(tenant_id=scope.id).id)

    def test_a_restricted_patients_death_is_still_recorded(self, scope):
        patient = register(confidentiality=Confidentiality.RESTRICTED)
        record(patient)
        assert vital_status_current(patient_id=patient.id).deceased
        assert [p.id for p in unverified_deaths()] == [patient.id]


class TestLifecycle:
    def test_verify_refute_correct_keep_the_whole_history(self, scope):
        patient = register()
        record(patient, version=1)
        vital_status_verify(
            actor=steward(scope), patient_id=patient.id, expected_version=2, channel="console"
        )
        assert list(unverified_deaths()) == []
        corrected = vital_status_correct(
            actor=steward(scope),
            patient_id=patient.id,
            expected_version=3,
            death=DeathDate(date(2024, 5, 16)),
            reason="certificate says the 16th",
            channel="rest",
        )
        assert corrected.verification == "verified"  # still the same verified death
        vital_status_refute(
            actor=steward(scope),
            patient_id=patient.id,
            expected_version=4,
            reason="wrong patient: the hospital mixed up two records",
            channel="rest",
        )
        history = vital_status_history(patient_id=patient.id)
        assert [(h.sequence, h.change, h.status, h.verification) for h in history] == [
            (1, "recorded", "deceased", "reported"),
            (2, "verified", "deceased", "verified"),
            (3, "corrected", "deceased", "verified"),
            (4, "refuted", "alive", "refuted"),
        ]
        assert [h.deceased_date for h in history] == [
            date(2024, 5, 17),
            date(2024, 5, 17),
            date(2024, 5, 16),
            None,
        ]
        assert history[2].reason == "certificate says the 16th"
        assert history[3].recorded_by == "user:7"
        # Each change, the correction included, is its own event with its own entry.
        payloads = events(patient)
        assert [p["deceased"] for p in payloads] == [True, True, True, False]
        assert [p["vital_status_id"] for p in payloads] == [str(h.id) for h in history]
        assert [p["version"] for p in payloads] == [2, 3, 4, 5]
        actions = list(
            AuditEvent.objects.filter(action__startswith="patient.vital_status_")
            .order_by("id")
            .values_list("action", flat=True)
        )
        assert actions == [
            "patient.vital_status_recorded",
            "patient.vital_status_verified",
            "patient.vital_status_corrected",
            "patient.vital_status_refuted",
        ]
        current = vital_status_current(patient_id=patient.id)
        assert (current.status, current.deceased, current.verification) == (
            "alive",
            False,
            "refuted",
        )
        # After a refutation a new death can be reported again.
        record(patient, DeathDate(date(2025, 1, 2)))
        assert len(vital_status_history(patient_id=patient.id)) == 5

    def test_refute_to_unknown(self, scope):
        patient = register()
        record(patient)
        vital_status_refute(
            actor=None,
            patient_id=patient.id,
            expected_version=None,
            reason="unconfirmed",
            status="unknown",
            channel="rest",
        )
        assert vital_status_current(patient_id=patient.id).status == "unknown"

    def test_wrong_states_are_conflicts(self, scope):
        patient = register()
        with pytest.raises(VitalStatusConflictError):
            vital_status_verify(
                actor=None, patient_id=patient.id, expected_version=None, channel="rest"
            )
        with pytest.raises(VitalStatusConflictError):
            vital_status_refute(
                actor=None, patient_id=patient.id, expected_version=None, reason="x", channel="rest"
            )
        with pytest.raises(VitalStatusConflictError):
            vital_status_correct(
                actor=None,
                patient_id=patient.id,
                expected_version=None,
                death=DAY,
                reason="x",
                channel="rest",
            )
        record(patient)
        with pytest.raises(ValidationFailedError):  # a note is kept whole, or refused
            vital_status_verify(
                actor=None,
                patient_id=patient.id,
                expected_version=None,
                channel="rest",
                note="x" * 501,
            )
        vital_status_verify(
            actor=None, patient_id=patient.id, expected_version=None, channel="rest"
        )
        with pytest.raises(VitalStatusConflictError):
            vital_status_verify(
                actor=None, patient_id=patient.id, expected_version=None, channel="rest"
            )
        with pytest.raises(VitalStatusConflictError, match="already as given"):
            vital_status_correct(
                actor=None,
                patient_id=patient.id,
                expected_version=None,
                death=DAY,
                reason="x",
                channel="rest",
            )

    def test_refute_and_correct_need_a_reason_and_valid_values(self, scope):
        patient = register(birth_date=date(1987, 3, 14))
        record(patient)
        with pytest.raises(ValidationFailedError):
            vital_status_refute(
                actor=None, patient_id=patient.id, expected_version=None, reason=" ", channel="rest"
            )
        with pytest.raises(ValidationFailedError):
            vital_status_refute(
                actor=None,
                patient_id=patient.id,
                expected_version=None,
                reason="x",
                status="deceased",
                channel="rest",
            )
        with pytest.raises(ValidationFailedError) as error:
            vital_status_correct(
                actor=None,
                patient_id=patient.id,
                expected_version=None,
                death=DeathDate(date(1980, 1, 1)),
                reason="typo",
                channel="rest",
            )
        assert error.value.errors[0].code == "before_birth"
        with pytest.raises(ValidationFailedError):
            vital_status_correct(
                actor=None,
                patient_id=patient.id,
                expected_version=None,
                death=DeathDate(date(2024, 1, 1), "week"),
                reason="typo",
                channel="rest",
            )
        assert len(vital_status_history(patient_id=patient.id)) == 1

    def test_history_is_append_only_for_the_app_role(self, scope):
        patient = register()
        record(patient)
        with transaction.atomic(), pytest.raises(Exception, match="permission denied"):
            VitalStatusRecord.objects.filter(patient_id=patient.id).update(reason="rewritten")
        with transaction.atomic(), pytest.raises(Exception, match="permission denied"):
            VitalStatusRecord.objects.filter(patient_id=patient.id).delete()
        assert [h.reason for h in vital_status_history(patient_id=patient.id)] == [""]

    def test_other_tenants_see_nothing(self):
        tenant, other = make_tenant(), make_tenant()
        with tenant_scope(tenant.id):
            patient = register()
            record(patient)
        with tenant_scope(other.id):
            assert vital_status_history(patient_id=patient.id) == []
            assert deceased_among([patient.id]) == frozenset()
            with pytest.raises(NotFoundError):
                vital_status_current(patient_id=patient.id)


def test_rls_is_forced_on_the_history(committed_db):
    with psycopg.connect(owner_conninfo()) as conn:
        row = conn.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = %s",
            ["registration_vitalstatusrecord"],
        ).fetchone()
    assert row == (True, True)


class TestReRegistration:
    def test_a_deceased_duplicate_cannot_be_registered_by_the_front_desk(self, scope):
        patient = register()
        record(patient)
        data = patient_data()  # same person, new MRN
        with pytest.raises(DeceasedDuplicateError) as error:
            patient_register(actor=desk(scope), data=data)
        assert error.value.status == 409
        assert error.value.code == "deceased-duplicate"
        assert error.value.extensions()["deceased_candidate_ids"] == [str(patient.id)]
        # An override reason is not enough: a data steward must review.
        with pytest.raises(DeceasedDuplicateError):
            patient_register(actor=desk(scope), data=data, duplicate_override_reason="sure")
        assert Patient.objects.count() == 1
        assert (
            AuditEvent.objects.filter(
                action="patient.duplicate_shown", object_id=str(patient.id)
            ).count()
            == 2
        )

    def test_a_steward_may_register_after_review(self, scope):
        patient = register()
        record(patient)
        with pytest.raises(DeceasedDuplicateError):  # a steward still has to say why
            patient_register(actor=steward(scope), data=patient_data())
        new = patient_register(
            actor=steward(scope), data=patient_data(), duplicate_override_reason="twin, checked"
        )
        audit = AuditEvent.objects.get(action="patient.registered", object_id=str(new.id))
        assert audit.details["duplicate_override"]["deceased_candidate_ids"] == [str(patient.id)]

    def test_after_a_refutation_it_is_an_ordinary_duplicate_again(self, scope):
        patient = register()
        record(patient)
        vital_status_refute(
            actor=None, patient_id=patient.id, expected_version=None, reason="x", channel="rest"
        )
        with pytest.raises(DuplicateSuspectedError) as error:
            patient_register(actor=desk(scope), data=patient_data())
        assert not isinstance(error.value, DeceasedDuplicateError)
