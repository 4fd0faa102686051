"""Scoring: weights, probability, grades, term-frequency adjustment and explanations."""

import json
import math
from typing import Any

import pytest

from mpi.matching.compare import FIELDS, compare_records
from mpi.matching.model import GradeThresholds, ModelParameters, default_parameters
from mpi.matching.record import MatchRecord
from mpi.matching.score import (
    MatchGrade,
    grade_for,
    match_probability,
    score_comparison,
    score_pair,
)

record = MatchRecord.from_raw
JOHN: dict[str, Any] = {"family": "Smith", "given": "John", "birth_date": "1980-05-17", "sex": "M"}


def test_probability_is_the_logistic_of_weight_plus_prior_odds():
    assert match_probability(0.0, 0.5) == 0.5
    assert match_probability(1.0, 0.5) == pytest.approx(2 / 3)
    assert match_probability(math.log2(999), 0.001) == pytest.approx(0.5)
    assert match_probability(-3.0, 0.5) == pytest.approx(1 / 9)


def test_probability_never_overflows():
    assert match_probability(5000.0, 0.001) == 1.0
    assert match_probability(-5000.0, 0.001) == 0.0


class TestGrades:
    parameters = ModelParameters(
        version="t",
        fields=default_parameters().fields,
        match_prior=0.01,
        thresholds=GradeThresholds(certain=0.99, probable=0.9, possible=0.5),
    )

    @pytest.mark.parametrize(
        ("probability", "grade"),
        [
            (0.999, MatchGrade.CERTAIN),
            (0.99, MatchGrade.CERTAIN),
            (0.98, MatchGrade.PROBABLE),
            (0.9, MatchGrade.PROBABLE),
            (0.7, MatchGrade.POSSIBLE),
            (0.5, MatchGrade.POSSIBLE),
            (0.49, MatchGrade.CERTAINLY_NOT),
            (0.0, MatchGrade.CERTAINLY_NOT),
        ],
    )
    def test_thresholds(self, probability, grade):
        assert grade_for(probability, {"family": "EXACT"}, self.parameters) == grade

    def test_a_contradicting_birth_date_blocks_automatic_linking(self):
        levels = {"family": "EXACT", "birth_date": "FAR"}
        assert grade_for(0.9999, levels, self.parameters) == MatchGrade.PROBABLE

    def test_blockers_can_be_switched_off(self):
        parameters = ModelParameters(
            version="t",
            fields=self.parameters.fields,
            match_prior=0.01,
            thresholds=self.parameters.thresholds,
            auto_link_blockers=frozenset(),
        )
        assert grade_for(0.9999, {"birth_date": "FAR"}, parameters) == MatchGrade.CERTAIN


@pytest.mark.parametrize(
    ("left", "right", "grade"),
    [
        (JOHN, JOHN, MatchGrade.CERTAIN),
        (
            {"family": "Smith", "given": "William", "birth_date": "1980-05-17", "sex": "M"},
            {"family": "Smyth", "given": "Bill", "birth_date": "1980-05-18", "sex": "M"},
            MatchGrade.POSSIBLE,
        ),
        (JOHN, {**JOHN, "given": "Peter"}, MatchGrade.POSSIBLE),  # twins
        (
            {"family": "Smith", "birth_date": "1980-05-17"},
            {"family": "Smith", "birth_date": "1980-05-17"},
            MatchGrade.PROBABLE,
        ),
        (
            JOHN,
            {"family": "Jones", "given": "Mary", "birth_date": "1955-01-02"},
            MatchGrade.CERTAINLY_NOT,
        ),
        ({"family": "Smith"}, {"family": "Smith"}, MatchGrade.CERTAINLY_NOT),
    ],
)
def test_default_parameters_grade_typical_pairs_sensibly(left, right, grade):
    assert score_pair(record("a", **left), record("b", **right)).grade == grade


def test_senior_and_junior_sharing_a_household_are_never_linked_automatically():
    household: dict[str, Any] = {
        "phones": ["617-555-0100"],
        "postal_code": "02139",
        "address_line": "12 Main St",
    }
    senior = record("a", **JOHN, **household)
    junior = record("b", **{**JOHN, "birth_date": "2005-02-03"}, **household)
    result = score_pair(senior, junior)
    assert result.probability > 0.999
    assert result.grade == MatchGrade.PROBABLE


def test_shared_identifier_cannot_outweigh_everything_else_disagreeing():
    left = record("a", identifiers=[("mrn", "1001")], **JOHN)
    right = record(
        "b",
        identifiers=[("mrn", "1001")],
        family="Jones",
        given="Mary",
        birth_date="1955-01-02",
        sex="F",
    )
    assert score_pair(left, right).grade == MatchGrade.CERTAINLY_NOT


def test_contradicting_identifier_lowers_the_score_and_blocks_auto_link():
    left = record("a", identifiers=[("ssn", "123-45-6780")], **JOHN)
    same = record("b", identifiers=[("ssn", "123-45-6780")], **JOHN)
    other = record("c", identifiers=[("ssn", "123-45-6781")], **JOHN)
    assert score_pair(left, other).weight < score_pair(left, record("d", **JOHN)).weight
    assert score_pair(left, other).grade == MatchGrade.PROBABLE
    assert score_pair(left, same).grade == MatchGrade.CERTAIN


def test_weight_is_the_sum_of_field_weights_and_probability_follows():
    parameters = default_parameters()
    result = score_pair(record(**JOHN), record(**{**JOHN, "given": "Jon"}), parameters)
    assert result.weight == pytest.approx(sum(entry.weight for entry in result.explanation))
    assert result.probability == pytest.approx(
        match_probability(result.weight, parameters.match_prior)
    )


def test_explanation_lists_every_field_with_its_evidence():
    parameters = default_parameters()
    left = record("a", phones=["617-555-0100"], **JOHN)
    right = record("b", family="Smyth", given="John", birth_date="1980-05-17")
    result = score_pair(left, right, parameters)
    assert tuple(entry.field for entry in result.explanation) == FIELDS
    by_field = {entry.field: entry for entry in result.explanation}
    family = by_field["family"]
    assert (family.level, family.left_value, family.right_value) == ("CLOSE", "smith", "smyth")
    assert family.m == parameters.fields["family"].m["CLOSE"]
    assert family.u == parameters.fields["family"].u["CLOSE"]
    assert family.weight == pytest.approx(math.log2(family.m / family.u))
    assert family.term_frequency is None
    phone = by_field["phone"]
    assert (phone.level, phone.weight, phone.m, phone.u) == ("MISSING", 0.0, None, None)
    assert phone.left_value == ("6175550100",)


def test_result_serialises_to_json():
    result = score_pair(
        record("a", phones=["617-555-0100"], **JOHN),
        record("b", phones=["617-555-0100"], **JOHN),
        term_frequency=lambda field, value: 0.01,
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data["grade"] == "CERTAIN"
    assert data["parameters_version"] == default_parameters().version
    assert [entry["field"] for entry in data["explanation"]] == list(FIELDS)
    phone = data["explanation"][FIELDS.index("phone")]
    assert phone["left_value"] == ["6175550100"]
    family = data["explanation"][FIELDS.index("family")]
    assert family["term_frequency"] == {
        "value": "smith",
        "frequency": 0.01,
        "u_before": 0.01,
        "u_after": 0.01,
    }
    assert data["explanation"][FIELDS.index("email")]["term_frequency"] is None


def test_common_family_name_weighs_less_than_a_rare_one():
    frequencies = {("family", "smith"): 0.05, ("family", "zywiecki"): 0.00002}

    def tf(field, value):
        return frequencies.get((field, value))

    smiths = score_pair(record(family="Smith"), record(family="SMITH"), term_frequency=tf)
    zywieckis = score_pair(record(family="Zywiecki"), record(family="Zywiecki"), term_frequency=tf)
    untuned = score_pair(record(family="Smith"), record(family="Smith"))
    assert smiths.weight < untuned.weight < zywieckis.weight
    smith_entry = smiths.explanation[0]
    assert smith_entry.u == 0.05
    assert smith_entry.term_frequency is not None
    assert smith_entry.term_frequency.u_before == default_parameters().fields["family"].u["EXACT"]
    assert zywieckis.explanation[0].u == default_parameters().term_frequency_bounds.min_u


def test_term_frequency_never_turns_agreement_into_disagreement():
    parameters = default_parameters()
    huge = score_pair(
        record(given="Mohammed"), record(given="Mohammed"), term_frequency=lambda f, v: 0.99
    )
    entry = huge.explanation[FIELDS.index("given")]
    assert entry.u == parameters.term_frequency_bounds.max_u
    assert entry.weight > 0


def test_term_frequency_applies_only_to_exact_name_agreement():
    looked_up = []

    def tf(field, value):
        looked_up.append((field, value))
        return 0.3

    result = score_pair(
        record(family="Smith", given="Bill", email="a@b.org", birth_date="1980"),
        record(family="Smith", given="William", email="a@b.org", birth_date="1980"),
        term_frequency=tf,
    )
    assert looked_up == [("family", "smith"), ("family", "smith")]
    assert [entry.field for entry in result.explanation if entry.term_frequency] == ["family"]


def test_term_frequency_uses_the_more_common_spelling_symmetrically():
    frequencies = {"van der berg": 0.001, "vanderberg": 0.01}

    def tf(field, value):
        return frequencies.get(value)

    forward = score_pair(
        record(family="van der Berg"), record(family="Vanderberg"), term_frequency=tf
    )
    backward = score_pair(
        record(family="Vanderberg"), record(family="van der Berg"), term_frequency=tf
    )
    assert forward.weight == backward.weight
    adjustment = forward.explanation[0].term_frequency
    assert adjustment is not None
    assert adjustment.value == "vanderberg"


def test_unknown_term_frequency_leaves_u_alone():
    result = score_pair(
        record(family="Smith"), record(family="Smith"), term_frequency=lambda f, v: None
    )
    assert result.explanation[0].term_frequency is None
    assert result.explanation[0].u == default_parameters().fields["family"].u["EXACT"]


def test_score_comparison_scores_a_stored_comparison_with_given_parameters():
    comparison = compare_records(record(**JOHN), record(**JOHN))
    strict = ModelParameters(
        version="strict-2",
        fields=default_parameters().fields,
        match_prior=1e-9,
    )
    result = score_comparison(comparison, strict)
    assert result.parameters_version == "strict-2"
    assert result.probability < score_pair(record(**JOHN), record(**JOHN)).probability
