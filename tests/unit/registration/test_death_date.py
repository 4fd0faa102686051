"""The date-of-death rule at each precision: not after today, not wholly before birth — a
partial date counts as its whole period (a month is allowed if any day of it is)."""

from datetime import date

import pytest

from registration.services.vital_status import DeathDate, validate_death_date
from tenancy.errors import ValidationFailedError

BIRTH = date(1987, 3, 14)
TODAY = date(2026, 11, 30)


@pytest.mark.parametrize(
    ("value", "precision"),
    [
        (date(1987, 3, 14), "day"),  # the day of birth
        (date(1987, 3, 1), "month"),  # the month of birth, before the birthday as given
        (date(1987, 1, 1), "year"),  # the year of birth
        (TODAY, "day"),
        (date(2026, 11, 1), "month"),  # this month
        (date(2026, 1, 1), "year"),  # this year
        (None, ""),  # deceased, date unknown
    ],
)
def test_allowed(value, precision):
    validate_death_date(DeathDate(value, precision), birth_date=BIRTH, today=TODAY)


@pytest.mark.parametrize(
    ("value", "precision", "code"),
    [
        (date(1987, 3, 13), "day", "before_birth"),
        (date(1987, 2, 1), "month", "before_birth"),
        (date(1986, 12, 31), "year", "before_birth"),
        (date(2026, 12, 1), "day", "in_future"),
        (date(2026, 12, 1), "month", "in_future"),
        (date(2027, 1, 1), "year", "in_future"),
        (date(2024, 1, 1), "week", "invalid"),
    ],
)
def test_refused(value, precision, code):
    with pytest.raises(ValidationFailedError) as error:
        validate_death_date(DeathDate(value, precision), birth_date=BIRTH, today=TODAY)
    assert [e.code for e in error.value.errors] == [code]


def test_without_a_birth_date_only_the_future_is_refused():
    validate_death_date(DeathDate(date(1900, 1, 1)), birth_date=None, today=TODAY)


def test_a_partial_date_is_stored_as_its_periods_first_day():
    assert DeathDate(date(2024, 5, 17), "month").normalized().value == date(2024, 5, 1)
    assert DeathDate(date(2024, 5, 17), "year").normalized().value == date(2024, 1, 1)
    assert DeathDate(date(2024, 2, 10), "month").period() == (date(2024, 2, 1), date(2024, 2, 29))
