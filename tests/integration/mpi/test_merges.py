"""Merge and unmerge against the real database: snapshots restored exactly, survivorship,
chains, concurrency, cross-tenant impossibility, candidates, audit and outbox rows."""

import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

import psycopg
import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpi.models import (
    CandidateGrade,
    CandidateSource,
    CandidateStatus,
    MatchCandidate,
    MatchDecision,
    MergeStatus,
    PatientMerge,
)
from mpi.services.merges import (
    MergeRefusedError,
    UnmergeRefusedError,
    patients_merge,
    patients_merge_preview,
    patients_unmerge,
)
from outbox.models import OutboxEvent
from registration.models import IdentifierUse, Patient, PatientIdentifier, PatientLink
from registration.selectors.patients import patient_get
from registration.services.inputs import (
    AddressInput,
    ContactInput,
    IdentifierInput,
    NameInput,
    PatientInput,
    TelecomInput,
)
from registration.services.merging import BOOKKEEPING, patient_rows_snapshot
from registration.services.patients import (
    identifier_add,
    identifier_retire,
    patient_deactivate,
    patient_patch,
    patient_register,
)
from tenancy.db import tenant_scope
from tenancy.errors import (
    NotFoundError,
    PreconditionFailedError,
    PreconditionRequiredError,
    ValidationFailedError,
)
from tenancy.models import AuditEvent, Role
from tests.factories import make_tenant, make_user, principal_for

MRN = "urn:oid:2.16.840.1.113883.19.5"
_counter = iter(range(10_000_000))


def record(**changes: Any) -> PatientInput:
    n = next(_counter)
    base = PatientInput(
        names=(NameInput(family="Okafor", given=("Adaeze",)),),
        gender="female",
        birth_date=date(1987, 3, 14),
        identifiers=(IdentifierInput(system=MRN, value=f"M{n:07d}", type_code="MR"),),
        telecoms=(TelecomInput(system="phone", value="+1 617 555 0142", use="mobile"),),
        addresses=(AddressInput(lines=("12 Elm Street",), city="Boston", postal_code="02118"),),
        contacts=(ContactInput(relationship="N", family="Okafor", given=("Chidi",)),),
        language="en",
    )
    return replace(base, **changes)


def register(actor: Any, data: PatientInput | None = None, **changes: Any) -> Patient:
    return patient_register(
        actor=actor, data=data or record(**changes), duplicate_override_reason="test look-alike"
    )


def versions(*patients: Patient) -> dict[Any, int]:
    return {p.id: Patient.objects.get(id=p.id).version for p in patients}


def merge(actor: Any, survivor: Patient, subsumed: Patient, **kwargs: Any) -> PatientMerge:
    return patients_merge(
        actor=actor,
        survivor_id=survivor.id,
        subsumed_id=subsumed.id,
        field_choices=kwargs.get("field_choices"),
        reason=kwargs.get("reason", "same person"),
        expected_versions=versions(survivor, subsumed),
    )


def content(patient_ids: list[Any]) -> dict[str, Any]:
    """Every stored row of these patients, bookkeeping columns (version, update stamp) aside."""
    snapshot = patient_rows_snapshot(patient_ids)
    snapshot["patients"] = [
        {k: v for k, v in row.items() if k not in BOOKKEEPING} for row in snapshot["patients"]
    ]
    return snapshot


@pytest.fixture
def steward(db):
    tenant = make_tenant()
    actor = principal_for(make_user(tenant, Role.DATA_STEWARD), tenant, Role.DATA_STEWARD)
    with tenant_scope(tenant.id):
        yield actor


class TestMerge:
    def test_merge_writes_links_old_identifiers_survivorship_ledger_audit_and_event(self, steward):
        survivor = register(steward, language="")
        subsumed = register(
            steward,
            names=(NameInput(family="Okafor-Bello", given=("Adaeze",)),),
            language="fr",
            telecoms=(TelecomInput(system="email", value="ada@example.org"),),
        )
        with CaptureQueriesContext(connections["default"]) as queries:
            result = merge(steward, survivor, subsumed, field_choices={"names": "survivor"})
        # The first lock taken: both patients, in id order (every merge and unmerge does so).
        lock = next(q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"])
        assert '"registration_patient"' in lock.split("FROM")[1].split()[0]
        assert lock.rstrip().endswith('ORDER BY "registration_patient"."id" ASC FOR UPDATE')

        kept = patient_get(patient_id=survivor.id)
        gone = patient_get(patient_id=subsumed.id)
        assert gone.active is False
        assert gone.deactivation_reason == "merged"
        assert [(link.type, link.other_id) for link in gone.links.all()] == [
            ("replaced-by", survivor.id)
        ]
        assert [(link.type, link.other_id) for link in kept.links.all()] == [
            ("replaces", subsumed.id)
        ]
        old = [i for i in kept.identifiers.all() if i.use == IdentifierUse.OLD]
        assert [i.value for i in old] == [subsumed.identifiers.get().value]
        assert all(i.retired_at is not None for i in gone.identifiers.all())
        assert kept.language == "fr"  # only the subsumed record had one
        assert [n.family for n in kept.names.all()] == ["Okafor"]  # the steward's choice
        assert {t.system for t in kept.telecoms.all()} == {"phone", "email"}  # most complete
        assert gone.enterprise_id == kept.enterprise_id
        assert result.survivorship["names"] == {"source": "survivor", "rule": "steward"}
        assert result.survivorship["language"] == {"source": "subsumed", "rule": "only-value"}
        assert result.survivor_version == kept.version == 2
        assert result.subsumed_version == gone.version == 2
        assert AuditEvent.objects.filter(action="patient.merged").count() == 2
        event = OutboxEvent.objects.get(event_type="patient.merged")
        assert event.payload["merge_id"] == str(result.id)
        assert event.payload["survivor_version"] == 2

    def test_preview_writes_nothing_and_shows_the_result(self, steward):
        survivor = register(steward)
        subsumed = register(steward, birth_date=date(1987, 3, 15), marital_status="M")
        before = content([survivor.id, subsumed.id])
        counts = (AuditEvent.objects.count(), OutboxEvent.objects.count())
        with CaptureQueriesContext(connections["default"]) as queries:
            preview = patients_merge_preview(
                survivor_id=survivor.id,
                subsumed_id=subsumed.id,
                field_choices={"birth_date": "subsumed"},
            )
        statements = [q["sql"].lstrip().split()[0].upper() for q in queries.captured_queries]
        assert set(statements) == {"SELECT"}  # no write, no savepoint
        assert not any("FOR UPDATE" in q["sql"] for q in queries.captured_queries)  # no lock
        assert (AuditEvent.objects.count(), OutboxEvent.objects.count()) == counts
        assert preview.record.birth_date == date(1987, 3, 15)
        assert preview.record.marital_status == "M"
        assert preview.outcomes["birth_date"].rule == "steward"
        assert [i.use for i in preview.record.identifiers] == ["usual", "old"]
        assert content([survivor.id, subsumed.id]) == before
        assert not PatientMerge.objects.exists()

    def test_most_recent_record_wins_a_conflict(self, steward):
        survivor = register(steward, language="en")
        subsumed = register(steward, language="fr")
        # The subsumed record was registered last: it is the most recently confirmed.
        preview = patients_merge_preview(survivor_id=survivor.id, subsumed_id=subsumed.id)
        assert preview.record.language == "fr"
        assert preview.outcomes["language"].rule == "most-recent"

    def test_restricted_confidentiality_always_survives(self, steward):
        survivor = register(steward)
        subsumed = register(steward, confidentiality="restricted")
        preview = patients_merge_preview(survivor_id=survivor.id, subsumed_id=subsumed.id)
        assert preview.record.confidentiality == "restricted"
        assert preview.outcomes["confidentiality"].rule == "most-restrictive"

    def test_refusals(self, steward):
        a = register(steward)
        b = register(steward)
        with pytest.raises(ValidationFailedError):
            merge(steward, a, a)
        with pytest.raises(ValidationFailedError):
            merge(steward, a, b, reason=" ")
        with pytest.raises(ValidationFailedError) as bad:
            merge(steward, a, b, field_choices={"names": "neither", "shoe_size": "survivor"})
        assert {e.code for e in bad.value.errors} == {"invalid_choice", "unknown_field"}
        with pytest.raises(PreconditionRequiredError):
            patients_merge(
                actor=steward,
                survivor_id=a.id,
                subsumed_id=b.id,
                field_choices=None,
                reason="r",
                expected_versions={a.id: 1},
            )
        with pytest.raises(PreconditionFailedError):
            patients_merge(
                actor=steward,
                survivor_id=a.id,
                subsumed_id=b.id,
                field_choices=None,
                reason="r",
                expected_versions={a.id: 1, b.id: 7},
            )
        patient_deactivate(actor=steward, patient_id=b.id, expected_version=1, reason="test")
        with pytest.raises(MergeRefusedError):
            merge(steward, a, b)
        with pytest.raises(MergeRefusedError):
            patients_merge_preview(survivor_id=a.id, subsumed_id=b.id)
        assert not PatientMerge.objects.exists()

    def test_candidates_are_settled_and_a_label_recorded(self, steward):
        a, b, c = register(steward), register(steward), register(steward)

        def candidate(x: Patient, y: Patient) -> MatchCandidate:
            low, high = sorted((x.id, y.id))
            return MatchCandidate.objects.create(
                tenant_id=steward.tenant_id,
                patient_low_id=low,
                patient_high_id=high,
                probability=0.9,
                weight=10,
                grade=CandidateGrade.PROBABLE,
                model_version="default-1",
                source=CandidateSource.BATCH,
            )

        pair, other = candidate(a, b), candidate(b, c)
        result = merge(steward, a, b)
        pair.refresh_from_db()
        other.refresh_from_db()
        assert pair.status == CandidateStatus.MERGED
        assert other.status == CandidateStatus.SUPERSEDED
        assert result.candidate_id == pair.id
        assert MatchDecision.objects.get().decision == "duplicate"


class TestUnmerge:
    def test_unmerge_restores_times_to_the_microsecond(self, steward):
        """Times under a millisecond past the second came back cut to the second (the snapshot
        kept milliseconds only); the property test below found it one run in a few."""
        survivor = register(steward)
        subsumed = register(steward, names=(NameInput(family="Bello", given=("Ada",)),))
        stamp = datetime(2026, 11, 30, 12, 0, 0, 450, tzinfo=UTC)
        Patient.objects.filter(id__in=[survivor.id, subsumed.id]).update(created_at=stamp)
        PatientIdentifier.objects.filter(patient_id=subsumed.id).update(created_at=stamp)
        before = content([survivor.id, subsumed.id])
        done = merge(steward, survivor, subsumed)
        patients_unmerge(actor=steward, merge_id=done.id, reason="not the same person")
        assert content([survivor.id, subsumed.id]) == before
        assert {
            p.created_at for p in Patient.objects.filter(id__in=[survivor.id, subsumed.id])
        } == {stamp}

    def test_unmerge_restores_both_records_and_announces_it(self, steward):
        survivor = register(steward)
        subsumed = register(steward, names=(NameInput(family="Bello", given=("Ada",)),))
        before = content([survivor.id, subsumed.id])
        done = merge(steward, survivor, subsumed, field_choices={"names": "both"})
        undone = patients_unmerge(actor=steward, merge_id=done.id, reason="not the same person")
        assert undone.status == MergeStatus.UNMERGED
        assert content([survivor.id, subsumed.id]) == before
        assert versions(survivor, subsumed) == {survivor.id: 3, subsumed.id: 3}
        assert PatientLink.objects.count() == 0
        event = OutboxEvent.objects.get(event_type="patient.unmerged")
        assert event.payload["survivor_version"] == 3
        assert AuditEvent.objects.filter(action="patient.unmerged").count() == 2
        with pytest.raises(UnmergeRefusedError, match="already been undone"):
            patients_unmerge(actor=steward, merge_id=done.id, reason="again")

    def test_later_edits_of_the_survivor_are_kept(self, steward):
        survivor = register(steward, language="")
        subsumed = register(steward, language="fr", marital_status="S")
        done = merge(steward, survivor, subsumed)
        edited = (TelecomInput(system="phone", value="+1 617 555 0199"),)
        patient_patch(
            actor=steward,
            patient_id=survivor.id,
            expected_version=2,
            changes={"telecoms": edited, "marital_status": "M"},
        )
        undone = patients_unmerge(actor=steward, merge_id=done.id, reason="wrong")
        kept = patient_get(patient_id=survivor.id)
        assert sorted(undone.unmerge_kept) == ["marital_status", "telecoms"]
        assert [t.value for t in kept.telecoms.all()] == ["+1 617 555 0199"]
        assert kept.marital_status == "M"
        assert kept.language == ""  # restored: it came from the subsumed record
        assert [i.use for i in kept.identifiers.all()] == ["usual"]
        assert patient_get(patient_id=subsumed.id).active is True

    def test_a_later_birth_date_edit_keeps_the_date_and_restores_the_names(self, steward):
        survivor = register(steward)
        subsumed = register(steward, names=(NameInput(family="Bello", given=("Ada",)),))
        done = merge(steward, survivor, subsumed)
        patient_patch(
            actor=steward,
            patient_id=survivor.id,
            expected_version=2,
            changes={"birth_date": date(1988, 3, 14)},
        )
        undone = patients_unmerge(actor=steward, merge_id=done.id, reason="wrong")
        kept = patient_get(patient_id=survivor.id)
        assert undone.unmerge_kept == ["birth_date"]
        assert [(n.family, n.birth_year) for n in kept.names.all()] == [("Okafor", 1988)]

    def test_an_identifier_added_to_the_survivor_later_stays_with_it(self, steward):
        survivor = register(steward)
        subsumed = register(steward)
        own = survivor.identifiers.get().value
        done = merge(steward, survivor, subsumed)
        identifier_add(
            actor=steward,
            patient_id=survivor.id,
            identifier=IdentifierInput(system=MRN, value="LATER-1", type_code="MR"),
        )
        patients_unmerge(actor=steward, merge_id=done.id, reason="wrong")
        kept = patient_get(patient_id=survivor.id)
        assert sorted(i.value for i in kept.identifiers.all()) == sorted([own, "LATER-1"])
        gone = patient_get(patient_id=subsumed.id)
        assert [(i.use, i.retired_at) for i in gone.identifiers.all()] == [("usual", None)]

    def test_a_later_name_edit_keeps_the_names_and_their_sort_key(self, steward):
        survivor = register(steward)
        subsumed = register(steward, names=(NameInput(family="Bello", given=("Ada",)),))
        done = merge(steward, survivor, subsumed, field_choices={"names": "both"})
        renamed = (NameInput(family="Adeyemi", given=("Adaeze",)),)
        patient_patch(
            actor=steward, patient_id=survivor.id, expected_version=2, changes={"names": renamed}
        )
        sort_key = Patient.objects.get(id=survivor.id).sort_name
        undone = patients_unmerge(actor=steward, merge_id=done.id, reason="wrong")
        kept = patient_get(patient_id=survivor.id)
        assert undone.unmerge_kept == ["names"]
        assert [n.family for n in kept.names.all()] == ["Adeyemi"]
        assert kept.sort_name == sort_key  # follows the kept names, not the snapshot

    def test_unknown_merge_and_missing_reason(self, steward):
        with pytest.raises(NotFoundError):
            patients_unmerge(actor=steward, merge_id=uuid.uuid4(), reason="x")
        with pytest.raises(ValidationFailedError):
            patients_unmerge(actor=steward, merge_id=uuid.uuid4(), reason="")

    def test_identifier_taken_meanwhile_refuses_the_unmerge(self, steward):
        survivor = register(steward)
        subsumed = register(steward)
        value = subsumed.identifiers.get().value
        done = merge(steward, survivor, subsumed)
        copy = PatientIdentifier.objects.get(patient=survivor, value=value)
        identifier_retire(actor=steward, patient_id=survivor.id, identifier_id=copy.id, reason="x")
        third = register(steward, identifiers=())
        identifier_add(
            actor=steward,
            patient_id=third.id,
            identifier=IdentifierInput(system=MRN, value=value, type_code="MR"),
        )
        with pytest.raises(UnmergeRefusedError, match="identifier"):
            patients_unmerge(actor=steward, merge_id=done.id, reason="x")


class TestChains:
    def test_a_into_b_then_b_into_c_resolves_to_c_and_unwinds_in_order(self, steward):
        a, b, c = register(steward), register(steward), register(steward)
        before = content([a.id, b.id, c.id])
        first = merge(steward, b, a)
        second = merge(steward, c, b)
        links = {(link.patient_id, link.type, link.other_id) for link in PatientLink.objects.all()}
        assert (a.id, "replaced-by", c.id) in links
        assert (b.id, "replaced-by", c.id) in links
        assert {(c.id, "replaces", a.id), (c.id, "replaces", b.id)} <= links
        assert len({p.enterprise_id for p in Patient.objects.all()}) == 1
        assert PatientIdentifier.objects.filter(patient=c, retired_at__isnull=True).count() == 3
        with pytest.raises(UnmergeRefusedError, match=str(second.id)):
            patients_unmerge(actor=steward, merge_id=first.id, reason="x")
        patients_unmerge(actor=steward, merge_id=second.id, reason="x")
        links = {(link.patient_id, link.type, link.other_id) for link in PatientLink.objects.all()}
        assert links == {(a.id, "replaced-by", b.id), (b.id, "replaces", a.id)}
        patients_unmerge(actor=steward, merge_id=first.id, reason="x")
        assert content([a.id, b.id, c.id]) == before
        assert OutboxEvent.objects.filter(event_type="patient.merged").count() == 2
        assert OutboxEvent.objects.filter(event_type="patient.unmerged").count() == 2


class TestCrossTenant:
    def test_another_tenants_patient_cannot_be_merged(self, db):
        one, two = make_tenant(), make_tenant()
        actor = principal_for(make_user(one, Role.DATA_STEWARD), one, Role.DATA_STEWARD)
        with tenant_scope(two.id):
            foreign = register(None)
        with tenant_scope(one.id):
            mine = register(actor)
            with pytest.raises(NotFoundError):
                patients_merge(
                    actor=actor,
                    survivor_id=mine.id,
                    subsumed_id=foreign.id,
                    field_choices=None,
                    reason="x",
                    expected_versions={mine.id: 1, foreign.id: 1},
                )
            with pytest.raises(NotFoundError):
                patients_merge_preview(survivor_id=mine.id, subsumed_id=foreign.id)
        with tenant_scope(two.id):
            assert Patient.objects.get(id=foreign.id).active is True

    def test_the_database_refuses_cross_tenant_links_and_ledger_rows(self, db, owner_connection):
        one, two = make_tenant(), make_tenant()
        with tenant_scope(one.id):
            mine = register(None)
        with tenant_scope(two.id):
            foreign = register(None)
        # The owner bypasses RLS: only the same-tenant foreign keys stand in the way.
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            owner_connection.execute(
                "INSERT INTO registration_patientlink (tenant_id, patient_id, other_id, type, "
                "created_at) VALUES (%s, %s, %s, 'replaced-by', now())",
                [one.id, mine.id, foreign.id],
            )
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            owner_connection.execute(
                "INSERT INTO mpi_patientmerge (id, tenant_id, survivor_id, subsumed_id, status, "
                "reason, field_choices, survivorship, before, after, enterprise_before, "
                "enterprise_after, copied_identifier_ids, survivor_version, subsumed_version, "
                "merged_by, merged_at, unmerged_by, unmerge_reason, unmerge_kept) VALUES "
                "(gen_random_uuid(), %s, %s, %s, 'merged', 'x', '{}', '{}', '{}', '{}', '{}', "
                "'{}', '[]', 1, 1, 'x', now(), '', '', '[]')",
                [one.id, mine.id, foreign.id],
            )


names = st.sampled_from(["Okafor", "Bello", "Smith", "Nguyen", "García"])
givens = st.lists(st.sampled_from(["Ada", "Grace", "Chidi", "Lin"]), min_size=1, max_size=2)
OTHER_SYSTEM = "urn:oid:2.16.840.1.113883.4.1"


def _identifiers(passport: bool, use: str) -> tuple[IdentifierInput, ...]:
    mrn = IdentifierInput(system=MRN, value=f"P{next(_counter):07d}", type_code="MR", use=use)
    if not passport:
        return (mrn,)
    other = IdentifierInput(system=OTHER_SYSTEM, value=f"S{next(_counter):07d}", type_code="SS")
    return (mrn, other)


@st.composite
def records(draw: st.DrawFn) -> PatientInput:
    """A random record: every field the merge decides on, blank or set."""
    family, given = draw(names), tuple(draw(givens))
    other = draw(st.one_of(st.none(), names))
    year = draw(st.one_of(st.none(), st.integers(1930, 2020)))
    phones = draw(st.lists(st.integers(0, 30), max_size=2, unique=True))
    email = draw(st.booleans())
    cities = draw(st.lists(st.sampled_from(["Boston", "Lagos", "Lyon"]), max_size=2, unique=True))
    return PatientInput(
        names=(
            NameInput(family=family, given=given),
            *((NameInput(family=other, given=given, use="maiden"),) if other else ()),
        ),
        gender=draw(st.sampled_from(["female", "male", "other", "unknown"])),
        birth_date=date(year, 1 + year % 12, 1 + year % 27) if year else None,
        identifiers=_identifiers(draw(st.booleans()), draw(st.sampled_from(["usual", "official"]))),
        telecoms=(
            *(TelecomInput(system="phone", value=f"+1 617 555 {p:04d}") for p in phones),
            *((TelecomInput(system="email", value="ada@example.org"),) if email else ()),
        ),
        addresses=tuple(
            AddressInput(lines=("1 Main St",), city=c, postal_code="02118", use="home")
            for c in cities
        ),
        contacts=(ContactInput(relationship="N", family=family, phone="+1 617 555 0000"),)
        if draw(st.booleans())
        else (),
        language=draw(st.sampled_from(["", "en", "fr"])),
        marital_status=draw(st.sampled_from(["", "M", "S"])),
        confidentiality=draw(st.sampled_from(["normal", "restricted"])),
        preferred_facility=draw(st.sampled_from(["", "north", "south"])),
        mothers_maiden_name=draw(st.sampled_from(["", "Eze"])),
    )


LISTS = ["names", "telecoms", "addresses", "contacts"]
SCALARS = [
    "gender",
    "birth_date",
    "language",
    "marital_status",
    "confidentiality",
    "preferred_facility",
    "mothers_maiden_name",
]
choices = st.one_of(
    st.dictionaries(st.sampled_from(SCALARS), st.sampled_from(["survivor", "subsumed"])),
    st.dictionaries(st.sampled_from(LISTS), st.sampled_from(["survivor", "subsumed", "both"])),
).flatmap(
    lambda first: st.dictionaries(
        st.sampled_from(SCALARS + LISTS), st.sampled_from(["survivor", "subsumed"]), max_size=3
    ).map(lambda more: {**more, **first})
)


class TestProperties:
    @settings(
        max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(first=records(), second=records(), field_choices=choices)
    def test_merge_then_unmerge_restores_every_row(self, steward, first, second, field_choices):
        survivor = register(steward, first)
        subsumed = register(steward, second)
        before = content([survivor.id, subsumed.id])
        done = merge(steward, survivor, subsumed, field_choices=field_choices)
        merged = patient_get(patient_id=survivor.id)
        for field, side in field_choices.items():
            source = first if side == "survivor" else second
            if field in SCALARS:
                assert getattr(merged, field) == getattr(source, field)
        assert merged.identifiers.filter(use=IdentifierUse.OLD).count() == len(second.identifiers)
        patients_unmerge(actor=steward, merge_id=done.id, reason="property")
        assert content([survivor.id, subsumed.id]) == before

    @settings(
        max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        trio=st.tuples(records(), records(), records()),
        steps=st.tuples(choices, choices),
        survivor_index=st.integers(0, 2),
    )
    def test_a_chain_unwound_newest_first_restores_every_row(
        self, steward, trio, steps, survivor_index
    ):
        patients = [register(steward, data) for data in trio]
        ids = [p.id for p in patients]
        before = content(ids)
        final = patients.pop(survivor_index)
        middle, oldest = patients
        one = merge(steward, middle, oldest, field_choices=steps[0])
        two = merge(steward, final, middle, field_choices=steps[1])
        pointed = PatientLink.objects.filter(patient_id__in=ids, type="replaced-by")
        assert sorted(pointed.values_list("patient_id", "other_id")) == sorted(
            [(middle.id, final.id), (oldest.id, final.id)]
        )
        patients_unmerge(actor=steward, merge_id=two.id, reason="property")
        patients_unmerge(actor=steward, merge_id=one.id, reason="property")
        assert content(ids) == before
        for merge_id in (one.id, two.id):
            events = OutboxEvent.objects.filter(payload__merge_id=str(merge_id))
            assert sorted(events.values_list("event_type", flat=True)) == [
                "patient.merged",
                "patient.unmerged",
            ]


def race(
    tenant_id: Any, jobs: list[tuple[Patient, Patient]], expected: dict[Any, int]
) -> list[str]:
    """Run two merges at once, each on its own connection; what became of each."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[str] = []

    def run(survivor: Patient, subsumed: Patient) -> None:
        try:
            with tenant_scope(tenant_id):
                barrier.wait(timeout=10)
                patients_merge(
                    actor=None,
                    survivor_id=survivor.id,
                    subsumed_id=subsumed.id,
                    field_choices=None,
                    reason="race",
                    expected_versions={
                        survivor.id: expected[survivor.id],
                        subsumed.id: expected[subsumed.id],
                    },
                )
            outcomes.append("merged")
        except PreconditionFailedError:
            outcomes.append("stale")
        except MergeRefusedError:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


class TestConcurrency:
    def test_overlapping_merges_from_two_connections_stay_consistent(self, committed_db):
        tenant = make_tenant()
        for round_ in range(4):
            with tenant_scope(tenant.id):
                a, b, c = register(None), register(None), register(None)
                expected = versions(a, b, c)
            # A shared patient, locked first by one merge and last by the other in alternate
            # rounds: without locking in id order these would deadlock.
            jobs = [(a, b), (b, c)] if round_ % 2 else [(b, a), (c, b)]
            # The loser waited for the winner's locks, then saw its shared patient changed
            # (412) or merged away (409): never a deadlock, never both.
            outcomes = sorted(race(tenant.id, jobs, expected))
            assert outcomes in (["merged", "stale"], ["merged", "refused"])
            with tenant_scope(tenant.id):
                merges = list(PatientMerge.objects.filter(subsumed_id__in=[a.id, b.id, c.id]))
                assert len(merges) == 1
                only = merges[0]
                assert Patient.objects.get(id=only.subsumed_id).active is False
                assert Patient.objects.get(id=only.survivor_id).active is True
                assert PatientLink.objects.filter(merge_id=only.id).count() == 2
                assert OutboxEvent.objects.filter(
                    event_type="patient.merged", payload__merge_id=str(only.id)
                ).exists()


def race_calls(tenant_id: Any, calls: dict[str, Callable[[], object]]) -> dict[str, str]:
    """Run service calls at once, each in its own thread (its own connection); their fates."""
    barrier = threading.Barrier(len(calls))
    fates: dict[str, str] = {}

    def run(name: str, call: Callable[[], object]) -> None:
        try:
            with tenant_scope(tenant_id):
                barrier.wait(timeout=10)
                call()
            fates[name] = "done"
        except PreconditionFailedError:
            fates[name] = "stale"
        except (MergeRefusedError, UnmergeRefusedError):
            fates[name] = "refused"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=item) for item in calls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return fates


class TestMergeAgainstUnmerge:
    def test_an_unmerge_and_a_merge_sharing_the_survivor_never_deadlock(self, committed_db):
        """Unmerge of B into A racing a merge of C into A: one wins, the other is refused."""
        tenant = make_tenant()
        for _ in range(4):
            with tenant_scope(tenant.id):
                a, b, c = register(None), register(None), register(None)
                first = merge(None, a, b)
                expected = versions(a, c)
            fates = race_calls(
                tenant.id,
                {
                    "unmerge": partial(
                        patients_unmerge, actor=None, merge_id=first.id, reason="race"
                    ),
                    "merge": partial(
                        patients_merge,
                        actor=None,
                        survivor_id=a.id,
                        subsumed_id=c.id,
                        field_choices=None,
                        reason="race",
                        expected_versions=expected,
                    ),
                },
            )
            # The merge first: the unmerge is refused (a later merge builds on A). The unmerge
            # first: A's version moved, so the merge is stale. Never both, never a deadlock.
            assert fates in (
                {"merge": "done", "unmerge": "refused"},
                {"merge": "stale", "unmerge": "done"},
            )
            with tenant_scope(tenant.id):
                first.refresh_from_db()
                standing = PatientMerge.objects.filter(
                    survivor_id=a.id, status=MergeStatus.MERGED
                ).count()
                inactive = set(
                    Patient.objects.filter(id__in=[a.id, b.id, c.id], active=False).values_list(
                        "id", flat=True
                    )
                )
                if fates["merge"] == "done":
                    assert (first.status, standing, inactive) == ("merged", 2, {b.id, c.id})
                else:
                    assert (first.status, standing, inactive) == ("unmerged", 0, set())
