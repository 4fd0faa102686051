"""Luhn check digits: the MRN validity rule the synthetic data promises."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registration.synthetic import luhn_check_digit, luhn_is_valid
from registration.synthetic.checksums import luhn_check_digit_of_int

payloads = st.text(alphabet="0123456789", min_size=1, max_size=24)


@pytest.mark.parametrize(
    ("payload", "check_digit"),
    [("7992739871", "3"), ("0", "0"), ("1", "8"), ("4111111111111111"[:-1], "1"), ("9", "1")],
)
def test_check_digit_matches_published_examples(payload, check_digit):
    assert luhn_check_digit(payload) == check_digit
    assert luhn_is_valid(payload + check_digit)


@pytest.mark.parametrize("payload", ["", "12a4", "\uff11\uff12\uff13", "-12", " 12"])
def test_check_digit_rejects_non_digit_payloads(payload):
    with pytest.raises(ValueError, match="digits"):
        luhn_check_digit(payload)


@pytest.mark.parametrize("value", ["", "0", "79927398710", "7992-7398713", "\uff17\uff19", "12 3"])
def test_is_valid_rejects_short_non_digit_and_wrong_values(value):
    assert not luhn_is_valid(value)


@given(payloads)
def test_appending_the_check_digit_makes_a_valid_value(payload):
    assert luhn_is_valid(payload + luhn_check_digit(payload))


@given(payloads, st.data())
def test_any_single_digit_change_is_rejected(payload, data):
    value = payload + luhn_check_digit(payload)
    position = data.draw(st.integers(min_value=0, max_value=len(value) - 1))
    replacement = data.draw(st.sampled_from([d for d in "0123456789" if d != value[position]]))
    changed = value[:position] + replacement + value[position + 1 :]
    assert not luhn_is_valid(changed)


@given(st.integers(min_value=0, max_value=10**30))
def test_integer_fast_path_agrees_with_string_version(payload):
    assert str(luhn_check_digit_of_int(payload)) == luhn_check_digit(str(payload))
