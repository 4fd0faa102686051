"""Training: u from random pairs, EM recovery of known parameters, steward labels."""

import itertools
import math
import random

import pytest

from mpi.matching.compare import FIELD_LEVELS, FIELDS
from mpi.matching.model import default_parameters
from mpi.matching.normalize import PlaceholderPolicy
from mpi.matching.record import MatchRecord
from mpi.matching.train import (
    LabelledPair,
    apply_labels,
    estimate_m_em,
    estimate_u,
    estimate_u_from_levels,
)

# Ground truth deliberately far from the defaults, so recovering it proves EM learned it.
TRUE_M = {
    "family": {"EXACT": 0.75, "CLOSE": 0.12, "PARTIAL": 0.05, "FAR": 0.08},
    "given": {"EXACT": 0.7, "ALIAS": 0.1, "CLOSE": 0.08, "PARTIAL": 0.05, "FAR": 0.07},
    "birth_date": {
        "EXACT": 0.8,
        "ONE_COMPONENT_OFF": 0.1,
        "DAY_MONTH_SWAPPED": 0.03,
        "YEAR_ONLY": 0.04,
        "FAR": 0.03,
    },
    "sex": {"EXACT": 0.95, "FAR": 0.05},
    "identifiers": {"SAME_SYSTEM_EQUAL": 0.85, "SAME_SYSTEM_DIFFERENT": 0.15},
    "phone": {"EXACT": 0.55, "FAR": 0.45},
    "postal_code": {"EXACT": 0.6, "CLOSE": 0.2, "FAR": 0.2},
    "address": {"EXACT": 0.45, "CLOSE": 0.2, "FAR": 0.35},
    "email": {"EXACT": 0.65, "FAR": 0.35},
}
TRUE_U = {
    "family": {"EXACT": 0.08, "CLOSE": 0.05, "PARTIAL": 0.02, "FAR": 0.85},
    "given": {"EXACT": 0.06, "ALIAS": 0.02, "CLOSE": 0.04, "PARTIAL": 0.03, "FAR": 0.85},
    "birth_date": {
        "EXACT": 0.02,
        "ONE_COMPONENT_OFF": 0.05,
        "DAY_MONTH_SWAPPED": 0.01,
        "YEAR_ONLY": 0.07,
        "FAR": 0.85,
    },
    "sex": {"EXACT": 0.5, "FAR": 0.5},
    "identifiers": {"SAME_SYSTEM_EQUAL": 0.03, "SAME_SYSTEM_DIFFERENT": 0.97},
    "phone": {"EXACT": 0.04, "FAR": 0.96},
    "postal_code": {"EXACT": 0.15, "CLOSE": 0.25, "FAR": 0.6},
    "address": {"EXACT": 0.03, "CLOSE": 0.05, "FAR": 0.92},
    "email": {"EXACT": 0.02, "FAR": 0.98},
}
TRUE_LAMBDA = 0.3
MISSING_RATE = 0.15


def simulate(pair_count, seed):
    """Level vectors drawn from TRUE_M / TRUE_U / TRUE_LAMBDA, with fields missing at random."""
    rng = random.Random(seed)  # noqa: S311 - a seeded simulation, not a secret
    vectors = []
    for _ in range(pair_count):
        tables = TRUE_M if rng.random() < TRUE_LAMBDA else TRUE_U
        vector = {}
        for field_name in FIELDS:
            if rng.random() < MISSING_RATE:
                vector[field_name] = "MISSING"
            else:
                levels = list(tables[field_name])
                weights = [tables[field_name][level] for level in levels]
                vector[field_name] = rng.choices(levels, weights)[0]
        vectors.append(vector)
    return vectors


@pytest.fixture(scope="module")
def simulated_pairs():
    return simulate(40_000, seed=20240601)


def assert_tables_close(fitted_fields, truth, kind, tolerance):
    for field_name, true_table in truth.items():
        fitted = getattr(fitted_fields[field_name], kind)
        for level, probability in true_table.items():
            assert fitted[level] == pytest.approx(probability, abs=tolerance), (
                f"{kind}[{field_name}][{level}]"
            )


def test_em_recovers_known_parameters_from_defaults(simulated_pairs):
    result = estimate_m_em(simulated_pairs, default_parameters(), max_iter=500, tol=1e-7)
    assert result.converged
    assert 1 < result.iterations < 500
    assert result.parameters.match_prior == pytest.approx(TRUE_LAMBDA, abs=0.02)
    assert_tables_close(result.parameters.fields, TRUE_M, "m", 0.05)
    assert_tables_close(result.parameters.fields, TRUE_U, "u", 0.05)
    assert result.parameters.version == "default-1+em"


def test_em_log_likelihood_never_decreases(simulated_pairs):
    trace = estimate_m_em(simulated_pairs, default_parameters(), max_iter=100).log_likelihood_trace
    assert len(trace) > 2
    assert all(
        later >= earlier - 1e-6 * abs(earlier) for earlier, later in itertools.pairwise(trace)
    )
    assert trace[-1] > trace[0]


def test_em_keeps_fixed_u_and_fits_m(simulated_pairs):
    result = estimate_m_em(
        simulated_pairs, default_parameters(), fixed_u=TRUE_U, version="tenant-7", max_iter=500
    )
    assert result.converged
    assert result.parameters.version == "tenant-7"
    for field_name, table in TRUE_U.items():
        assert result.parameters.fields[field_name].u == table
    assert_tables_close(result.parameters.fields, TRUE_M, "m", 0.03)
    assert result.parameters.match_prior == pytest.approx(TRUE_LAMBDA, abs=0.01)


def test_em_reports_non_convergence_when_stopped_early(simulated_pairs):
    result = estimate_m_em(simulated_pairs, default_parameters(), max_iter=2)
    assert result.iterations == 2
    assert not result.converged
    assert len(result.log_likelihood_trace) == 2


def test_em_leaves_never_observed_fields_at_their_initial_values():
    vectors = [
        {field_name: vector[field_name] for field_name in ("family", "given", "birth_date", "sex")}
        for vector in simulate(3_000, seed=7)
    ]
    initial = default_parameters()
    result = estimate_m_em(vectors, initial)
    assert result.parameters.fields["email"] == initial.fields["email"]
    assert result.parameters.fields["family"] != initial.fields["family"]


def test_em_probabilities_stay_valid_when_a_level_never_occurs():
    vectors = [{"family": "EXACT", "sex": "EXACT"}] * 50 + [{"family": "FAR", "sex": "FAR"}] * 50
    fitted = estimate_m_em(vectors, default_parameters()).parameters.fields["family"]
    assert all(0 < probability < 1 for probability in fitted.m.values())
    assert math.isfinite(fitted.weight("PARTIAL"))


@pytest.mark.parametrize(
    ("vectors", "options", "message"),
    [
        ([], {}, "at least one"),
        ([{"family": "EXACT"}], {"max_iter": 0}, "max_iter"),
        ([{"family": "EXACT"}], {"tol": 0}, "tol"),
        ([{"shoe_size": "EXACT"}], {}, "unknown fields"),
        ([{"family": "ALIAS"}], {}, "unknown level"),
    ],
)
def test_em_rejects_bad_input(vectors, options, message):
    with pytest.raises(ValueError, match=message):
        estimate_m_em(vectors, default_parameters(), **options)


@pytest.mark.parametrize(
    ("fixed_u", "message"),
    [
        ({"sex": {"EXACT": 0.9, "FAR": 0.9}}, "sum to 1"),
        ({"shoe_size": {"EXACT": 0.5, "FAR": 0.5}}, "unknown field"),
    ],
)
def test_em_rejects_an_invalid_fixed_u(fixed_u, message):
    with pytest.raises(ValueError, match=message):
        estimate_m_em([{"sex": "EXACT"}], default_parameters(), fixed_u=fixed_u)


def test_estimate_u_from_levels_uses_laplace_smoothing():
    vectors = [{"sex": "EXACT"}] * 3 + [{"sex": "FAR"}] + [{"sex": "MISSING"}] * 10
    u = estimate_u_from_levels(vectors)
    assert u == {"sex": {"EXACT": (3 + 1) / (4 + 2), "FAR": (1 + 1) / (4 + 2)}}
    assert estimate_u_from_levels(vectors, pseudo_count=0.5)["sex"]["FAR"] == pytest.approx(1.5 / 5)


def test_estimate_u_from_levels_validates():
    with pytest.raises(ValueError, match="pseudo_count"):
        estimate_u_from_levels([{"sex": "EXACT"}], pseudo_count=0)
    with pytest.raises(ValueError, match="unknown level"):
        estimate_u_from_levels([{"sex": "CLOSE"}])


def test_estimate_u_compares_random_record_pairs():
    people = [
        MatchRecord.from_raw(str(number), family=family, sex=sex, phones=["617-555-0100"])
        for number, (family, sex) in enumerate(
            [("Smith", "M"), ("Jones", "F"), ("Smith", "F"), ("Brown", "M")]
        )
    ]
    pairs = [(people[0], people[1]), (people[0], people[2]), (people[1], people[3])]
    u = estimate_u(pairs)
    assert u["family"] == {"EXACT": 2 / 7, "CLOSE": 1 / 7, "PARTIAL": 1 / 7, "FAR": 3 / 7}
    assert u["sex"] == {"EXACT": 1 / 5, "FAR": 4 / 5}
    assert u["phone"]["EXACT"] == 4 / 5
    assert set(u) == {"family", "sex", "phone"}
    clinic = PlaceholderPolicy().with_extras(phones=["617-555-0100"])
    assert "phone" not in estimate_u(pairs, policy=clinic)


def test_apply_labels_moves_m_towards_duplicates_and_u_towards_distinct_pairs():
    parameters = default_parameters()
    duplicates = [LabelledPair({"given": "PARTIAL", "sex": "EXACT"}, is_duplicate=True)] * 100
    distinct = [LabelledPair({"given": "ALIAS"}, is_duplicate=False)] * 100
    updated = apply_labels(parameters, duplicates + distinct, prior_strength=100)
    before, after = parameters.fields["given"], updated.fields["given"]
    assert after.m["PARTIAL"] == pytest.approx((100 * before.m["PARTIAL"] + 100) / 200)
    assert after.m["EXACT"] == pytest.approx(before.m["EXACT"] / 2)
    assert after.u["ALIAS"] == pytest.approx((100 * before.u["ALIAS"] + 100) / 200)
    assert after.weight("PARTIAL") > before.weight("PARTIAL")
    assert after.weight("ALIAS") < before.weight("ALIAS")
    assert updated.fields["email"] == parameters.fields["email"]  # nothing learned
    assert updated.match_prior == parameters.match_prior
    assert updated.version == "default-1+labels200"
    for field_name in FIELDS:
        assert math.fsum(updated.fields[field_name].m.values()) == pytest.approx(1.0)
        assert set(updated.fields[field_name].m) == set(FIELD_LEVELS[field_name])


def test_a_few_labels_only_nudge_the_model():
    parameters = default_parameters()
    updated = apply_labels(
        parameters, [LabelledPair({"sex": "FAR"}, is_duplicate=True)], version="v2"
    )
    assert updated.version == "v2"
    assert updated.fields["sex"].m["FAR"] == pytest.approx((100 * 0.01 + 1) / 101)


def test_apply_labels_validates():
    with pytest.raises(ValueError, match="prior_strength"):
        apply_labels(default_parameters(), [], prior_strength=0)
    with pytest.raises(ValueError, match="unknown level"):
        apply_labels(default_parameters(), [LabelledPair({"sex": "ALIAS"}, is_duplicate=True)])
