"""Properties that must hold for any input: symmetry, bounds, idempotence, placeholder safety."""

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpi.matching.compare import COMPARATORS, FIELDS
from mpi.matching.model import default_parameters
from mpi.matching.normalize import (
    PartialDate,
    PlaceholderPolicy,
    fold_text,
    fold_unicode_text,
    normalize_address,
    normalize_name,
    normalize_phone,
    normalize_postal_code,
)
from mpi.matching.record import MatchRecord
from mpi.matching.score import match_probability, score_best_pair, score_pair

# No example database: the suite must not write files into the work tree.
PROPERTY = settings(database=None, deadline=None, max_examples=150)

# Small pools with accents, nicknames, typos, compounds and swaps, so that generated pairs
# reach every level rather than almost always FAR.
FAMILIES = [
    "Smith",
    "Smyth",
    "SMITH",
    "García-López",
    "Garcia",
    "Lopez Garcia",
    "van der Berg",
    "Vanderberg",
    "Berg",
    "O'Brien",
    "John",
    "Nguyen",
]
GIVENS = ["John", "Jon", "Johnny", "William", "Bill", "J", "Mary Ann", "Ann", "Smith", "Zoë"]
names = st.one_of(st.none(), st.sampled_from(FAMILIES + GIVENS), st.text(max_size=12))
dates = st.one_of(
    st.none(),
    st.builds(PartialDate, st.integers(1979, 1981)),
    st.builds(PartialDate, st.integers(1979, 1981), st.integers(1, 12)),
    st.builds(PartialDate, st.integers(1979, 1981), st.integers(1, 12), st.integers(1, 28)),
    st.sampled_from([PartialDate(1980, 5, 7), PartialDate(1980, 7, 5), PartialDate(1980, 5, 8)]),
)
identifiers = st.lists(
    st.tuples(st.sampled_from(["ssn", "mrn"]), st.sampled_from(["1001", "1002", "000-00-0000"])),
    max_size=3,
)
phones = st.lists(
    st.sampled_from(["617-555-0100", "617-555-0101", "555-555-5555", "12"]), max_size=2
)


@st.composite
def records(draw):
    return MatchRecord.from_raw(
        draw(st.text(max_size=3)),
        family=draw(names),
        given=draw(names),
        middle=draw(st.one_of(st.none(), st.sampled_from(GIVENS))),
        birth_date=draw(dates),
        sex=draw(st.sampled_from([None, "M", "F", "other", "unknown"])),
        identifiers=draw(identifiers),
        phones=draw(phones),
        postal_code=draw(st.sampled_from([None, "02139", "02142", "10001", "00000"])),
        address_line=draw(
            st.sampled_from([None, "12 Main St", "12 Main Street", "12 Mian St", "13 Main St"])
        ),
        email=draw(st.sampled_from([None, "a@example.org", "A@Example.org", "b@example.org"])),
    )


@PROPERTY
@given(records(), records())
def test_every_comparator_is_symmetric(left, right):
    for comparator in COMPARATORS.values():
        forward, backward = comparator(left, right), comparator(right, left)
        assert forward.level == backward.level
        assert (forward.left, forward.right) == (backward.right, backward.left)


@PROPERTY
@given(records(), records(), st.one_of(st.none(), st.floats(0, 1)))
def test_score_is_a_symmetric_probability(left, right, frequency):
    def tf(field, value):
        return frequency

    forward = score_pair(left, right, term_frequency=tf)
    backward = score_pair(right, left, term_frequency=tf)
    assert 0.0 <= forward.probability <= 1.0
    assert math.isfinite(forward.weight)
    assert forward.weight == pytest.approx(backward.weight)
    assert forward.grade == backward.grade
    assert tuple(entry.field for entry in forward.explanation) == FIELDS


@st.composite
def one_patient(draw):
    """A patient's records: one per name it holds, everything else shared (as stored)."""
    base = draw(records())
    return [
        dataclasses.replace(base, family=family, given=given, middle=middle)
        for family, given, middle in draw(
            st.lists(
                st.tuples(
                    st.sampled_from([None, *FAMILIES]),
                    st.sampled_from([None, *GIVENS]),
                    st.sampled_from([None, *GIVENS]),
                ),
                min_size=1,
                max_size=3,
            )
        )
    ]


@PROPERTY
@given(one_patient(), one_patient(), st.one_of(st.none(), st.floats(0, 1)))
def test_the_best_combination_scores_as_the_best_of_all_scored_in_full(left, right, frequency):
    def tf(field, value):
        return frequency

    combinations = [(a, b) for a in left for b in right]
    every = [score_pair(a, b, term_frequency=tf) for a, b in combinations]
    best = score_best_pair(combinations, term_frequency=tf)
    assert best == max(every, key=lambda score: score.weight)


def test_the_best_combination_needs_one():
    with pytest.raises(ValueError, match="at least one"):
        score_best_pair([])


@PROPERTY
@given(st.floats(-1e6, 1e6), st.floats(1e-12, 1 - 1e-12))
def test_match_probability_is_bounded_for_any_weight(weight, prior):
    assert 0.0 <= match_probability(weight, prior) <= 1.0


@PROPERTY
@given(st.text(alphabet=st.characters(max_codepoint=127)) | st.text())
def test_the_ascii_shortcut_folds_as_the_unicode_path_does(text):
    assert fold_text(text) == fold_unicode_text(text)


@PROPERTY
@given(st.text())
def test_folding_is_idempotent(text):
    folded = fold_text(text)
    assert fold_text(folded) == folded
    assert folded == folded.strip()
    assert "  " not in folded


@PROPERTY
@given(st.text())
def test_normalizers_are_idempotent(text):
    for normalize in (normalize_name, normalize_address, normalize_postal_code, normalize_phone):
        once = normalize(text)
        assert once is None or normalize(once) == once


PLACEHOLDER_VALUES = {
    "given": "baby girl",
    "family": "unknown",
    "birth_date": PartialDate(1900, 1, 1),
    "identifiers": (("ssn", "000000000"),),
    "phones": ("5555555555",),
    "postal_code": "00000",
    "address_line": "homeless",
    "email": "none@none.com",
}
UNKNOWN_VALUES = {"identifiers": (), "phones": ()}


@PROPERTY
@given(records(), records(), st.sampled_from(sorted(PLACEHOLDER_VALUES)))
def test_placeholders_score_exactly_like_unknown_values(left, right, field_name):
    placeholder = PLACEHOLDER_VALUES[field_name]
    unknown = UNKNOWN_VALUES.get(field_name)

    def with_value(record, value):
        return dataclasses.replace(record, **{field_name: value})

    # Both sides carry the same placeholder: the most tempting false agreement.
    shared = score_pair(with_value(left, placeholder), with_value(right, placeholder))
    absent = score_pair(with_value(left, unknown), with_value(right, unknown))
    assert shared.weight == pytest.approx(absent.weight)
    # One side carries it: no evidence against a match either.
    one_sided = score_pair(with_value(left, placeholder), right)
    assert one_sided.weight == pytest.approx(score_pair(with_value(left, unknown), right).weight)


@PROPERTY
@given(records(), st.sampled_from(["Front Desk", "Walk In"]))
def test_tenant_placeholder_names_never_raise_a_score(record, placeholder_name):
    policy = PlaceholderPolicy().with_extras(names=[placeholder_name])
    left = dataclasses.replace(record, family=normalize_name(placeholder_name))
    right = dataclasses.replace(record, record_id="other", family=normalize_name(placeholder_name))
    with_placeholder = score_pair(left, right, policy=policy)
    without = score_pair(
        dataclasses.replace(left, family=None), dataclasses.replace(right, family=None)
    )
    assert with_placeholder.weight == pytest.approx(without.weight)


@PROPERTY
@given(
    st.sampled_from(["family", "given"]),
    st.floats(1e-7, 0.5),
    st.floats(1e-7, 0.5),
)
def test_more_common_names_never_weigh_more(field_name, first, second):
    rarer, commoner = sorted((first, second))
    name: dict[str, Any] = {field_name: "kowalski"}
    kowalski = dataclasses.replace(MatchRecord(), **name)
    pair = (kowalski, kowalski)
    rare = score_pair(*pair, term_frequency=lambda field, value: rarer)
    common = score_pair(*pair, term_frequency=lambda field, value: commoner)
    assert rare.weight >= common.weight
    assert common.weight > 0
    bounds = default_parameters().term_frequency_bounds
    entry = common.explanation[FIELDS.index(field_name)]
    assert entry.u is not None
    assert bounds.min_u <= entry.u <= bounds.max_u
