"""Model parameters: validation, defaults that carry evidence, JSON round trip."""

import json
import math

import pytest

from mpi.matching.compare import FIELD_LEVELS, FIELDS
from mpi.matching.model import (
    FieldParameters,
    GradeThresholds,
    ModelParameters,
    TermFrequencyBounds,
    default_parameters,
)


def test_defaults_cover_every_field_with_proper_distributions():
    parameters = default_parameters()
    assert set(parameters.fields) == set(FIELDS)
    for field_name, field_parameters in parameters.fields.items():
        assert tuple(field_parameters.m) == FIELD_LEVELS[field_name]
        assert math.isclose(math.fsum(field_parameters.m.values()), 1.0)
        assert math.isclose(math.fsum(field_parameters.u.values()), 1.0)


@pytest.mark.parametrize(
    ("field_name", "agreeing", "disagreeing"),
    [
        ("family", "EXACT", "FAR"),
        ("given", "EXACT", "FAR"),
        ("birth_date", "EXACT", "FAR"),
        ("sex", "EXACT", "FAR"),
        ("identifiers", "SAME_SYSTEM_EQUAL", "SAME_SYSTEM_DIFFERENT"),
        ("phone", "EXACT", "FAR"),
        ("postal_code", "EXACT", "FAR"),
        ("address", "EXACT", "FAR"),
        ("email", "EXACT", "FAR"),
    ],
)
def test_default_agreement_is_evidence_for_and_disagreement_against(
    field_name, agreeing, disagreeing
):
    field_parameters = default_parameters().fields[field_name]
    assert field_parameters.weight(agreeing) > 0
    assert field_parameters.weight(disagreeing) < 0


def test_identifier_evidence_dominates_in_both_directions():
    identifiers = default_parameters().fields["identifiers"]
    assert identifiers.weight("SAME_SYSTEM_EQUAL") > 12
    assert identifiers.weight("SAME_SYSTEM_DIFFERENT") < -4


def test_default_thresholds_and_prior():
    parameters = default_parameters()
    assert parameters.thresholds == GradeThresholds(certain=0.999, probable=0.95, possible=0.5)
    assert parameters.match_prior == 0.001
    assert parameters.prior_weight == pytest.approx(math.log2(0.001 / 0.999))


class TestFieldParametersValidation:
    def test_unknown_field(self):
        with pytest.raises(ValueError, match="unknown field"):
            FieldParameters("shoe_size", {"EXACT": 0.5, "FAR": 0.5}, {"EXACT": 0.5, "FAR": 0.5})

    def test_levels_must_match_the_field(self):
        with pytest.raises(ValueError, match="exactly the levels"):
            FieldParameters("sex", {"EXACT": 1.0}, {"EXACT": 0.5, "FAR": 0.5})

    @pytest.mark.parametrize("probability", [0.0, 1.0, -0.1])
    def test_probabilities_strictly_inside_the_unit_interval(self, probability):
        with pytest.raises(ValueError, match=r"in \(0, 1\)"):
            FieldParameters("sex", {"EXACT": probability, "FAR": 0.5}, {"EXACT": 0.5, "FAR": 0.5})

    def test_probabilities_must_sum_to_one(self):
        with pytest.raises(ValueError, match="sum to 1"):
            FieldParameters("sex", {"EXACT": 0.5, "FAR": 0.4}, {"EXACT": 0.5, "FAR": 0.5})

    def test_tables_are_stored_in_level_order(self):
        parameters = FieldParameters("sex", {"FAR": 0.1, "EXACT": 0.9}, {"FAR": 0.5, "EXACT": 0.5})
        assert list(parameters.m) == ["EXACT", "FAR"]
        assert parameters.weight("EXACT") == pytest.approx(math.log2(0.9 / 0.5))


@pytest.mark.parametrize(
    ("certain", "probable", "possible"),
    [(0.9, 0.95, 0.5), (0.99, 0.5, 0.6), (0.99, 0.95, 0.0), (1.1, 0.95, 0.5)],
)
def test_thresholds_must_nest(certain, probable, possible):
    with pytest.raises(ValueError, match="thresholds"):
        GradeThresholds(certain=certain, probable=probable, possible=possible)


def test_term_frequency_bounds():
    bounds = TermFrequencyBounds(min_u=0.001, max_u=0.1)
    assert bounds.clamp(0.00001) == 0.001
    assert bounds.clamp(0.05) == 0.05
    assert bounds.clamp(0.9) == 0.1
    with pytest.raises(ValueError, match="bounds"):
        TermFrequencyBounds(min_u=0.2, max_u=0.1)


class TestModelParametersValidation:
    def test_every_field_is_required(self):
        fields = dict(default_parameters().fields)
        del fields["email"]
        with pytest.raises(ValueError, match="exactly the fields"):
            ModelParameters(version="x", fields=fields, match_prior=0.01)

    def test_field_labels_must_match_their_keys(self):
        fields = dict(default_parameters().fields)
        fields["email"], fields["phone"] = fields["phone"], fields["email"]
        with pytest.raises(ValueError, match="labelled"):
            ModelParameters(version="x", fields=fields, match_prior=0.01)

    @pytest.mark.parametrize("prior", [0.0, 1.0])
    def test_lambda_strictly_inside_the_unit_interval(self, prior):
        with pytest.raises(ValueError, match="lambda"):
            ModelParameters(version="x", fields=default_parameters().fields, match_prior=prior)

    def test_auto_link_blockers_must_name_real_levels(self):
        with pytest.raises(ValueError, match="blocker"):
            ModelParameters(
                version="x",
                fields=default_parameters().fields,
                match_prior=0.01,
                auto_link_blockers=frozenset({("sex", "ALIAS")}),
            )


def test_with_probabilities_keeps_grading_rules():
    parameters = ModelParameters(
        version="v1",
        fields=default_parameters().fields,
        match_prior=0.01,
        thresholds=GradeThresholds(certain=0.99, probable=0.9, possible=0.4),
        auto_link_blockers=frozenset(),
    )
    m = {name: dict(field.m) for name, field in parameters.fields.items()}
    u = {name: dict(field.u) for name, field in parameters.fields.items()}
    m["sex"] = {"EXACT": 0.8, "FAR": 0.2}
    updated = parameters.with_probabilities(m=m, u=u, match_prior=0.2, version="v2")
    assert updated.version == "v2"
    assert updated.match_prior == 0.2
    assert updated.fields["sex"].m == {"EXACT": 0.8, "FAR": 0.2}
    assert updated.thresholds == parameters.thresholds
    assert updated.auto_link_blockers == frozenset()


def test_json_round_trip():
    parameters = default_parameters()
    as_json = json.dumps(parameters.to_dict())
    data = json.loads(as_json)
    assert data["lambda"] == parameters.match_prior
    assert data["auto_link_blockers"]["birth_date"] == ["FAR"]
    assert ModelParameters.from_dict(data) == parameters


def test_from_dict_fills_grading_defaults():
    data = default_parameters().to_dict()
    for optional in ("thresholds", "term_frequency_bounds", "auto_link_blockers"):
        del data[optional]
    parameters = ModelParameters.from_dict(data)
    assert parameters.thresholds == GradeThresholds()
    assert parameters.term_frequency_bounds == TermFrequencyBounds()
    assert parameters.auto_link_blockers == frozenset()


@pytest.mark.parametrize(
    ("path", "bad_value", "message"),
    [
        (("version",), None, "lack"),
        (("lambda",), "0.1", "number"),
        (("lambda",), True, "number"),
        (("fields",), [], "object"),
        (("fields", "sex", "m"), None, "lack"),
        (("fields", "sex", "m", "EXACT"), "high", "number"),
        (("auto_link_blockers", "sex"), "FAR", "list"),
        (("thresholds", "certain"), 2.0, "thresholds"),
    ],
)
def test_from_dict_rejects_malformed_data(path, bad_value, message):
    data = json.loads(json.dumps(default_parameters().to_dict()))
    data["auto_link_blockers"]["sex"] = ["FAR"]
    target = data
    for key in path[:-1]:
        target = target[key]
    if bad_value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = bad_value
    with pytest.raises(ValueError, match=message):
        ModelParameters.from_dict(data)


def test_from_dict_rejects_non_string_keys():
    data: dict[str, object] = dict(default_parameters().to_dict())
    data["thresholds"] = {1: 0.5}
    with pytest.raises(ValueError, match="object"):
        ModelParameters.from_dict(data)
