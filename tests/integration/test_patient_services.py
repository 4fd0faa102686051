"""Patient services against the real database: rules, audit rows, concurrency, history."""

import threading
from dataclasses import replace
from datetime import date, timedelta

import pytest
from django.db import connections
from django.utils import timezone

from registration.models import IdentifierDomain, Patient, PatientIdentifier
from registration.selectors.patients import PatientSearch, patient_get, patient_search
from registration.services.inputs import IdentifierInput, NameInput, TelecomInput
from registration.services.patients import (
    DuplicateSuspectedError,
    IdentifierConflictError,
    PatientInactiveError,
    identifier_add,
    identifier_retire,
    patient_deactivate,
    patient_patch,
    patient_register,
    patient_update,
)
from tenancy.db import tenant_scope
from tenancy.errors import NotFoundError, PreconditionFailedError, ValidationFailedError
from tenancy.models import AuditEvent, Role
from tests.factories import make_tenant, make_user, principal_for
from tests.patient_builders import MRN_SYSTEM, patient_data


@pytest.fixture
def scope(db):
    tenant = make_tenant()
    actor = principal_for(make_user(tenant, Role.FRONT_DESK), tenant, Role.FRONT_DESK)
    with tenant_scope(tenant.id):
        yield tenant, actor


def _fields(error: pytest.ExceptionInfo[ValidationFailedError]) -> set[tuple[str, str]]:
    return {(e.field, e.code) for e in error.value.errors}


class TestRegister:
    def test_writes_record_children_search_keys_and_audit(self, scope):
        _, actor = scope
        patient = patient_register(
            actor=actor,
            data=patient_data(names=(NameInput(family="García-López", given=("José",)),)),
        )
        stored = patient_get(patient_id=patient.id)
        name = stored.names.get()
        assert (name.family_folded, name.given_folded) == ("garcia lopez", "jose")
        assert stored.sort_name == "garcia lopez jose"
        assert stored.telecoms.get().value_normalized == "6175550142"
        assert stored.addresses.get().postal_code_normalized == "02118"
        assert stored.version == 1
        event = AuditEvent.objects.get(action="patient.registered")
        assert event.object_id == str(patient.id)
        assert event.actor_user_id == actor.user_id

    @pytest.mark.parametrize(
        ("changes", "expected"),
        [
            ({"birth_date": timezone.localdate() + timedelta(days=1)}, ("birth_date", "future")),
            ({"birth_date": date(1850, 1, 1)}, ("birth_date", "too_early")),
            ({"names": ()}, ("names", "required")),
            ({"names": (NameInput(family="", given=()),)}, ("names.0", "empty_name")),
            (
                {"names": (NameInput(family="x" * 101, given=("A",)),)},
                ("names.0.family", "max_length"),
            ),
            ({"gender": "robot"}, ("gender", "invalid_choice")),
            ({"language": "english please"}, ("language", "bcp47")),
            (
                {"identifiers": (IdentifierInput(system="not a uri", value="1"),)},
                ("identifiers.0.system", "invalid_uri"),
            ),
            (
                {"identifiers": (IdentifierInput(system=MRN_SYSTEM, value=" 1"),)},
                ("identifiers.0.value", "whitespace"),
            ),
            (
                {"identifiers": (IdentifierInput(system=MRN_SYSTEM, value="1", type_code="ZZ"),)},
                ("identifiers.0.type_code", "invalid_choice"),
            ),
            (
                {"telecoms": (TelecomInput(system="phone", value="12"),)},
                ("telecoms.0.value", "phone"),
            ),
            (
                {"telecoms": (TelecomInput(system="email", value="nope"),)},
                ("telecoms.0.value", "email"),
            ),
            (
                {"names": (NameInput(family="A", given=("B\x00",)),)},
                ("names.0.given.0", "invalid_characters"),
            ),
        ],
    )
    def test_bad_input_is_rejected_field_by_field_and_nothing_written(
        self, scope, changes, expected
    ):
        _, actor = scope
        with pytest.raises(ValidationFailedError) as error:
            patient_register(actor=actor, data=patient_data(**changes))
        assert expected in _fields(error)
        assert Patient.objects.count() == 0
        assert not AuditEvent.objects.filter(action="patient.registered").exists()

    def test_identifier_domain_format_and_check_digit(self, scope):
        tenant, actor = scope
        IdentifierDomain.objects.create(
            tenant=tenant,
            system="urn:oid:1.2.9",
            name="Clinic MRN",
            format_regex=r"\d{6}",
            check_digit="luhn",
        )
        ok = patient_data(identifiers=(IdentifierInput(system="urn:oid:1.2.9", value="123455"),))
        patient_register(actor=actor, data=ok)
        for value, code in (("12345", "format"), ("123456", "check_digit")):
            with pytest.raises(ValidationFailedError) as error:
                patient_register(
                    actor=actor,
                    data=patient_data(
                        identifiers=(IdentifierInput(system="urn:oid:1.2.9", value=value),)
                    ),
                )
            assert ("identifiers.0.value", code) in _fields(error)

    def test_same_identifier_twice_in_one_record(self, scope):
        _, actor = scope
        twice = (
            IdentifierInput(system=MRN_SYSTEM, value="A1"),
            IdentifierInput(system=MRN_SYSTEM, value="A1"),
        )
        with pytest.raises(ValidationFailedError) as error:
            patient_register(actor=actor, data=patient_data(identifiers=twice))
        assert ("identifiers.1", "duplicate") in _fields(error)


class TestSearchBeforeCreate:
    def test_same_name_and_birth_date_is_a_likely_duplicate(self, scope):
        _, actor = scope
        first = patient_register(actor=actor, data=patient_data())
        lookalike = patient_data(names=(NameInput(family="OKAFOR", given=("adaeze",)),))
        with pytest.raises(DuplicateSuspectedError) as error:
            patient_register(actor=actor, data=lookalike)
        (candidate,) = error.value.candidates
        assert candidate["patient_id"] == str(first.id)
        assert candidate["matched_on"] == ["name_and_birth_date"]
        assert Patient.objects.count() == 1
        # Showing the candidate was an access to that record.
        assert AuditEvent.objects.filter(
            action="patient.duplicate_shown", object_id=str(first.id)
        ).exists()

    def test_override_needs_a_reason_and_is_audited(self, scope):
        _, actor = scope
        first = patient_register(actor=actor, data=patient_data())
        lookalike = patient_data()  # same name and birth date, another MRN
        with pytest.raises(ValidationFailedError):
            patient_register(actor=actor, data=lookalike, duplicate_override_reason="  ")
        second = patient_register(
            actor=actor, data=lookalike, duplicate_override_reason="Twin sister, confirmed ID"
        )
        details = AuditEvent.objects.get(
            action="patient.registered", object_id=str(second.id)
        ).details
        assert details["duplicate_override"] == {
            "reason": "Twin sister, confirmed ID",
            "candidate_ids": [str(first.id)],
        }

    def test_identifier_in_use_is_a_hard_conflict_even_with_override(self, scope):
        _, actor = scope
        first = patient_register(actor=actor, data=patient_data())
        other_person = patient_data(
            names=(NameInput(family="Ng", given=("Lan",)),), identifiers=first_identifiers(first)
        )
        with pytest.raises(DuplicateSuspectedError):
            patient_register(actor=actor, data=other_person)
        with pytest.raises(IdentifierConflictError) as error:
            patient_register(
                actor=actor, data=other_person, duplicate_override_reason="different person"
            )
        assert error.value.errors[0].field == "identifiers.0"

    def test_inactive_patients_are_not_candidates(self, scope):
        _, actor = scope
        first = patient_register(actor=actor, data=patient_data())
        patient_deactivate(actor=actor, patient_id=first.id, expected_version=1, reason="test")
        patient_register(actor=actor, data=patient_data())


def first_identifiers(patient: Patient) -> tuple[IdentifierInput, ...]:
    return tuple(IdentifierInput(system=i.system, value=i.value) for i in patient.identifiers.all())


class TestUpdate:
    def test_replace_bumps_version_retires_dropped_identifiers_and_audits_fields(self, scope):
        _, actor = scope
        patient = patient_register(actor=actor, data=patient_data())
        old_mrn = patient.identifiers.get()
        new = patient_data(
            identifiers=(IdentifierInput(system=MRN_SYSTEM, value="NEW-1"),), gender="other"
        )
        updated = patient_update(actor=actor, patient_id=patient.id, expected_version=1, data=new)
        assert updated.version == 2
        old_mrn.refresh_from_db()
        assert old_mrn.retired_at is not None
        assert list(
            PatientIdentifier.objects.filter(patient=patient, retired_at__isnull=True).values_list(
                "value", flat=True
            )
        ) == ["NEW-1"]
        details = AuditEvent.objects.get(action="patient.updated").details
        assert details == {"version": 2, "changed": ["gender", "identifiers"]}

    def test_unchanged_replace_is_a_no_op(self, scope):
        _, actor = scope
        data = patient_data()
        patient = patient_register(actor=actor, data=data)
        assert (
            patient_update(
                actor=actor, patient_id=patient.id, expected_version=1, data=data
            ).version
            == 1
        )
        assert not AuditEvent.objects.filter(action="patient.updated").exists()

    def test_stale_version_is_refused(self, scope):
        _, actor = scope
        patient = patient_register(actor=actor, data=patient_data())
        patient_patch(
            actor=actor, patient_id=patient.id, expected_version=1, changes={"gender": "male"}
        )
        with pytest.raises(PreconditionFailedError):
            patient_patch(
                actor=actor, patient_id=patient.id, expected_version=1, changes={"gender": "other"}
            )
        assert Patient.objects.get(id=patient.id).gender == "male"

    def test_patch_changes_only_given_fields(self, scope):
        _, actor = scope
        patient = patient_register(actor=actor, data=patient_data())
        patient_patch(
            actor=actor, patient_id=patient.id, expected_version=1, changes={"language": "es-MX"}
        )
        stored = patient_get(patient_id=patient.id)
        assert (stored.language, stored.gender, stored.names.get().family) == (
            "es-MX",
            "female",
            "Okafor",
        )
        with pytest.raises(ValidationFailedError):
            patient_patch(
                actor=actor, patient_id=patient.id, expected_version=2, changes={"shoe_size": 9}
            )

    def test_deactivated_patient_cannot_change(self, scope):
        _, actor = scope
        patient = patient_register(actor=actor, data=patient_data())
        patient_deactivate(
            actor=actor, patient_id=patient.id, expected_version=1, reason="registered in error"
        )
        with pytest.raises(PatientInactiveError):
            patient_patch(
                actor=actor, patient_id=patient.id, expected_version=2, changes={"gender": "male"}
            )
        with pytest.raises(PatientInactiveError):
            patient_deactivate(
                actor=actor, patient_id=patient.id, expected_version=2, reason="again"
            )

    def test_missing_patient(self, scope):
        _, actor = scope
        with pytest.raises(NotFoundError):
            patient_patch(actor=actor, patient_id=scope[0].id, expected_version=1, changes={})


class TestIdentifiers:
    def test_add_and_retire(self, scope):
        _, actor = scope
        patient = patient_register(actor=actor, data=patient_data())
        row = identifier_add(
            actor=actor,
            patient_id=patient.id,
            identifier=IdentifierInput(system="urn:oid:1.2.7", value="X9", type_code="MR"),
        )
        assert Patient.objects.get(id=patient.id).version == 2
        retired = identifier_retire(
            actor=actor, patient_id=patient.id, identifier_id=row.id, reason="entered in error"
        )
        assert retired.retired_at is not None
        # A retired identifier is free for another patient.
        # Another person: other names and birth date (the MPI sees a same-day birth in the
        # same household as a probable duplicate, whatever the names).
        other = patient_register(
            actor=actor,
            data=patient_data(
                names=(NameInput(family="Ng", given=("Lan",)),),
                birth_date=date(1990, 6, 1),
                identifiers=(IdentifierInput(system="urn:oid:1.2.7", value="X9"),),
            ),
        )
        assert other.identifiers.get().value == "X9"
        assert {e.action for e in AuditEvent.objects.filter(object_id=str(patient.id))} >= {
            "patient.identifier_added",
            "patient.identifier_retired",
        }

    def test_add_rules(self, scope):
        _, actor = scope
        first = patient_register(actor=actor, data=patient_data())
        second = patient_register(
            actor=actor,
            data=patient_data(
                names=(NameInput(family="Ng", given=("Lan",)),), birth_date=date(1990, 6, 1)
            ),
        )
        taken = first.identifiers.get()
        with pytest.raises(IdentifierConflictError):
            identifier_add(
                actor=actor,
                patient_id=second.id,
                identifier=IdentifierInput(system=taken.system, value=taken.value),
            )
        with pytest.raises(ValidationFailedError) as error:
            identifier_add(
                actor=actor,
                patient_id=second.id,
                identifier=IdentifierInput(system="bad", value="1"),
            )
        assert error.value.errors[0].field == "identifier.system"
        with pytest.raises(NotFoundError):
            identifier_retire(
                actor=actor, patient_id=second.id, identifier_id=taken.id, reason="not mine"
            )


class TestSearch:
    def test_folded_prefix_search_by_each_criterion(self, scope):
        _, actor = scope
        jose = patient_register(
            actor=actor,
            data=patient_data(names=(NameInput(family="García", given=("José", "Ángel")),)),
        )
        patient_register(
            actor=actor,
            data=patient_data(
                names=(NameInput(family="Garner", given=("Amy",)),), birth_date=date(1990, 1, 2)
            ),
        )

        def ids(**criteria):
            return [p.id for p in patient_search(PatientSearch(**criteria))]

        assert ids(family="garc") == [jose.id]
        assert ids(name="JOSE gar") == [jose.id]
        assert len(ids(family="gar")) == 2
        assert ids(given="jos", birth_date=date(1987, 3, 14)) == [jose.id]
        # Any given name, not only the first; every word must start one of them.
        assert ids(given="angel") == [jose.id]
        assert ids(given="ange jo") == [jose.id]
        assert ids(given="ngel") == []
        assert ids(name="angel garcia") == [jose.id]
        mrn = jose.identifiers.get()
        assert ids(identifier=mrn.value) == [jose.id]
        assert ids(identifier=f"{mrn.system}|{mrn.value}") == [jose.id]
        assert ids(identifier=f"urn:oid:9.9|{mrn.value}") == []
        assert len(ids(phone="617.555.0142")) == 2
        assert len(ids(postal_code="02118-1234")) == 2
        assert ids(family="garner", active=False) == []


class TestConcurrency:
    def test_two_registrations_of_one_identifier_race_and_one_wins(self, committed_db):
        tenant = make_tenant()
        data = patient_data()
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def register(name: str) -> None:
            try:
                with tenant_scope(tenant.id):
                    barrier.wait(timeout=10)
                    patient_register(
                        actor=None,
                        data=replace(data, names=(NameInput(family=name, given=("A",)),)),
                        duplicate_override_reason="race test",
                    )
                outcomes.append("ok")
            except IdentifierConflictError:
                outcomes.append("conflict")
            finally:
                connections.close_all()

        threads = [threading.Thread(target=register, args=(name,)) for name in ("Alpha", "Beta")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes) == ["conflict", "ok"]
        with tenant_scope(tenant.id):
            assert Patient.objects.count() == 1

    def test_access_time_is_now(self, scope):
        _, actor = scope
        patient = patient_register(actor=actor, data=patient_data())
        assert abs(patient.created_at - timezone.now()) < timedelta(minutes=1)
