"""Online matching against the database: grades, ranking, the tenant's model version, term
frequencies, the no-reproposal and deceased rules, and search-before-create through the MPI."""

from datetime import date

import pytest

from mpi.matching.model import GradeThresholds, default_parameters
from mpi.matching.score import MatchGrade
from mpi.models import MatchDecisionKind
from mpi.selectors.vital_status import deceased_patient_ids
from mpi.services.decisions import match_decision_record
from mpi.services.frequencies import name_frequencies_refresh
from mpi.services.matching import match_patient, match_reasons, mpi_duplicate_finder
from mpi.services.models import match_model_create
from registration.services.bulk import patients_bulk_load
from registration.services.duplicates import exact_duplicate_finder
from registration.services.patients import DuplicateSuspectedError, patient_register
from registration.services.synthetic import synthetic_to_input
from registration.services.vital_status import DeathDate, vital_status_record_death
from registration.synthetic import generate
from tenancy.db import tenant_scope
from tests.integration.mpi.conftest import person, register

pytestmark = pytest.mark.django_db

JOHN = person(
    "Smith",
    "John",
    date(1985, 3, 14),
    gender="male",
    mrn="A-1001",
    phone="617-555-0142",
    line="12 Elm Street",
    postal_code="02118",
)


def grades(result):
    return [(c.patient_id, c.grade) for c in result.candidates]


class TestMatchPatient:
    def test_an_exact_copy_is_certain_and_explained(self, scope):
        john = register(JOHN)
        result = match_patient(JOHN)
        (candidate,) = result.candidates
        assert (candidate.patient_id, candidate.grade) == (john.id, MatchGrade.CERTAIN)
        assert candidate.probability > 0.999
        assert result.model_version == default_parameters().version
        assert result.truncated is False
        by_field = {entry.field: entry for entry in candidate.explanation}
        assert by_field["family"].level == "EXACT"
        assert (by_field["family"].left_value, by_field["family"].right_value) == (
            "smith",
            "smith",
        )
        assert by_field["identifiers"].level == "SAME_SYSTEM_EQUAL"
        assert by_field["email"].level == "MISSING"
        assert by_field["email"].weight == 0.0
        assert "identifier" in candidate.found_by

    def test_a_typo_and_a_nickname_are_probable_and_strangers_are_left_out(self, scope):
        john = register(JOHN)
        register(person("Smith", "Mary", date(1985, 3, 14), gender="female"))
        result = match_patient(person("Smyth", "Jon", date(1985, 3, 14), gender="male"))
        assert grades(result) == [(john.id, MatchGrade.PROBABLE)]
        assert result.candidates_scored == 2

    def test_only_certain_and_count(self, scope):
        john = register(JOHN)
        jon = register(person("Smith", "Jonathan", date(1985, 3, 14), gender="male"))
        both = match_patient(person("Smith", "John", date(1985, 3, 14), gender="male"))
        assert [c.patient_id for c in both.candidates] == [john.id, jon.id]
        assert [c.grade for c in both.candidates] == [MatchGrade.CERTAIN, MatchGrade.POSSIBLE]
        assert [c.patient_id for c in match_patient(JOHN, count=1).candidates] == [john.id]
        certain = match_patient(
            person("Smith", "John", date(1985, 3, 14), gender="male"), only_certain=True
        )
        assert grades(certain) == [(john.id, MatchGrade.CERTAIN)]

    @pytest.mark.parametrize("count", [0, 51])
    def test_count_is_bounded(self, scope, count):
        with pytest.raises(ValueError, match="count"):
            match_patient(JOHN, count=count)

    def test_a_maiden_name_row_is_compared_too(self, scope):
        jane = register(person("Okafor", "Adaeze", date(1987, 3, 14), maiden="Eze"))
        result = match_patient(person("Eze", "Adaeze", date(1987, 3, 14)))
        assert grades(result) == [(jane.id, MatchGrade.CERTAIN)]

    def test_the_tenants_current_model_scores_and_is_named(self, scope):
        john = register(JOHN)
        strict = default_parameters()
        strict = type(strict)(
            version="ignored",
            fields=strict.fields,
            match_prior=strict.match_prior,
            thresholds=GradeThresholds(certain=1.0, probable=0.99, possible=0.5),
        )
        first = match_model_create(actor=None, parameters=default_parameters())
        second = match_model_create(
            actor=None, parameters=strict, training_metrics={"source": "hand-tuned"}
        )
        assert (first.version, second.version) == (1, 2)
        result = match_patient(person("Smith", "John", date(1985, 3, 14), gender="male"))
        assert result.model_version == "tenant-v2" == second.label
        assert grades(result) == [(john.id, MatchGrade.PROBABLE)]

    def test_query_count_stays_flat(self, scope, django_assert_max_num_queries):
        for given in ("John", "Jon", "Johnny", "Jonathan"):
            register(person("Smith", given, date(1985, 3, 14)))
        # Model, candidates, candidate records, name frequencies, deceased candidates.
        with django_assert_max_num_queries(5):
            result = match_patient(person("Smith", "John", date(1985, 3, 14)))
        assert result.candidates_scored == 4

    def test_no_candidates_costs_two_queries(self, scope, django_assert_num_queries):
        with django_assert_num_queries(3):  # placeholders (once a minute), model, candidates
            assert match_patient(JOHN).candidates == ()
        with django_assert_num_queries(2):  # model, candidates
            assert match_patient(JOHN).candidates == ()


class TestStewardDecisions:
    def test_a_decided_pair_is_never_proposed_again(self, scope):
        john = register(JOHN)
        jon = register(person("Smith", "Jon", date(1985, 3, 14), gender="male"))
        jack = register(person("Smith", "Johnny", date(1985, 3, 14), gender="male"))
        before = match_patient(JOHN, exclude_patient_id=john.id)
        assert {c.patient_id for c in before.candidates} == {jon.id, jack.id}
        match_decision_record(
            actor=None,
            patient_id=jon.id,
            other_patient_id=john.id,
            decision=MatchDecisionKind.NOT_DUPLICATE,
            reason="different people, checked ID",
        )
        after = match_patient(JOHN, exclude_patient_id=john.id)
        assert [c.patient_id for c in after.candidates] == [jack.id]
        # A new registration has no decisions yet: both are still shown to it.
        assert {c.patient_id for c in match_patient(JOHN).candidates} == {john.id, jon.id, jack.id}


class TestDeceased:
    def test_a_deceased_patient_is_never_certain(self, scope):
        john = register(JOHN)
        vital_status_record_death(
            actor=None,
            patient_id=john.id,
            expected_version=None,
            death=DeathDate(date(2024, 5, 17)),
            source="hospital",
            channel="rest",
        )
        (candidate,) = match_patient(JOHN).candidates
        assert candidate.patient_id == john.id
        assert candidate.grade == MatchGrade.PROBABLE
        assert candidate.grade_capped_by == "deceased"
        assert match_patient(JOHN, only_certain=True).candidates == ()

    def test_a_living_patient_is_certain(self, scope):
        register(JOHN)
        (candidate,) = match_patient(JOHN).candidates
        assert candidate.grade == MatchGrade.CERTAIN
        assert candidate.grade_capped_by is None

    def test_the_hook_reads_vital_status_in_one_query(self, scope, django_assert_num_queries):
        john = register(JOHN)
        other = register(person("Doe", "Jane", date(1990, 1, 1)))
        vital_status_record_death(
            actor=None,
            patient_id=john.id,
            expected_version=None,
            death=DeathDate(None),
            source="front_desk",
            channel="console",
        )
        with django_assert_num_queries(1):
            assert deceased_patient_ids([john.id, other.id]) == frozenset({john.id})
        with django_assert_num_queries(0):
            assert deceased_patient_ids([]) == frozenset()


class TestTermFrequency:
    def test_common_names_weigh_less_once_the_tenant_is_counted(self, tenant):
        people = [synthetic_to_input(p) for p in generate(1200, seed=5, today=date(2025, 1, 1))]
        patients_bulk_load(tenant_id=tenant.id, actor=None, records=people)
        with tenant_scope(tenant.id):
            family = max(
                (data.names[0].family for _, data in people),
                key=lambda name: sum(d.names[0].family == name for _, d in people),
            )
            data = next(d for _, d in people if d.names[0].family == family)
            untrained = match_patient(data, include_certainly_not=True)
            assert all(
                e.term_frequency is None for c in untrained.candidates for e in c.explanation
            )
            rows = name_frequencies_refresh(actor=None)
            assert rows > 100
            counted = match_patient(data, include_certainly_not=True)
        entry = next(e for e in counted.candidates[0].explanation if e.field == "family")
        assert entry.level == "EXACT"
        assert entry.term_frequency is not None
        assert 0 < entry.term_frequency.frequency < 0.1
        assert entry.term_frequency.u_after == max(entry.term_frequency.frequency, 0.0001)


class TestSearchBeforeCreate:
    def test_a_typo_lookalike_the_exact_check_missed_is_flagged(self, scope):
        john = patient_register(actor=None, data=JOHN)
        lookalike = person("Smyth", "Jon", date(1985, 3, 14), gender="male", mrn="B-2002")
        assert exact_duplicate_finder(lookalike) == []
        with pytest.raises(DuplicateSuspectedError) as error:
            patient_register(actor=None, data=lookalike)
        (candidate,) = error.value.candidates
        assert candidate["patient_id"] == str(john.id)
        assert candidate["matched_on"] == ["similar_name_and_birth_date"]
        assert candidate["grade"] == "PROBABLE"
        assert candidate["probability"] > 0.95

    def test_an_exact_lookalike_keeps_its_reason(self, scope):
        register(JOHN)
        (found,) = mpi_duplicate_finder(person("SMITH", "john", date(1985, 3, 14)))
        assert found.matched_on == ("name_and_birth_date",)
        assert found.explanation[0]["field"] == "family"

    def test_the_holder_of_an_identifier_is_shown_even_when_all_else_differs(self, scope):
        john = register(JOHN)
        other = person("Ng", "Lan", date(1990, 6, 1), mrn="A-1001")
        (found,) = mpi_duplicate_finder(other)
        assert (found.patient_id, found.grade) == (john.id, "CERTAINLY_NOT")
        assert found.matched_on == ("identifier",)

    def test_possible_matches_are_not_duplicates_at_registration(self, scope):
        register(person("Smith", "Peter", date(1985, 3, 14), gender="male"))
        twin = person("Smith", "Paul", date(1985, 3, 14), gender="male")
        assert match_patient(twin).candidates[0].grade == MatchGrade.POSSIBLE
        assert mpi_duplicate_finder(twin) == []


def test_match_reasons_fall_back_to_the_fields_that_counted(scope):
    register(person("Smith", "John", None, phone="617-555-0142"))
    (candidate,) = match_patient(
        person("Jones", "Mary", None, phone="617-555-0142"), include_certainly_not=True
    ).candidates
    assert match_reasons(candidate.explanation) == ("phone", "sex")
