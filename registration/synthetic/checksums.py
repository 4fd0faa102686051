"""Check digits for synthetic identifiers.

Medical record numbers in the synthetic population carry a Luhn (mod-10) check digit so that
the registration service's identifier validation, and any matching rule that treats a
mistyped MRN as a different identifier, see the same shape of data as real facility MRNs.
"""

from __future__ import annotations

_DOUBLED_DIGIT = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _luhn_sum(digits: str, *, double_rightmost: bool) -> int:
    """Sum the Luhn-weighted digits of `digits`, doubling every second one from the right."""
    total = 0
    double = double_rightmost
    for char in reversed(digits):
        value = ord(char) - 48
        total += _DOUBLED_DIGIT[value] if double else value
        double = not double
    return total


def _chunk_sums(*, double_rightmost: bool) -> tuple[int, ...]:
    """Precompute the Luhn sum of every three-digit chunk for one doubling phase."""
    return tuple(
        _luhn_sum(f"{chunk:03d}", double_rightmost=double_rightmost) for chunk in range(1000)
    )


_CHUNK_SUMS_RIGHTMOST_DOUBLED = _chunk_sums(double_rightmost=True)
_CHUNK_SUMS_MIDDLE_DOUBLED = _chunk_sums(double_rightmost=False)


def luhn_check_digit_of_int(payload: int) -> int:
    """Return the Luhn check digit of a non-negative integer payload, three digits at a time.

    Equivalent to `int(luhn_check_digit(str(payload)))` but several times faster, because
    the generator computes one for every record's MRN.
    """
    total = 0
    rightmost_doubled = True
    while True:
        payload, chunk = divmod(payload, 1000)
        if rightmost_doubled:
            total += _CHUNK_SUMS_RIGHTMOST_DOUBLED[chunk]
        else:
            total += _CHUNK_SUMS_MIDDLE_DOUBLED[chunk]
        if not payload:
            return (10 - total % 10) % 10
        rightmost_doubled = not rightmost_doubled  # three digits shift the doubling phase


def luhn_check_digit(digits: str) -> str:
    """Return the Luhn check digit to append to `digits` (a non-empty string of 0-9).

    Raises ValueError for anything that is not a non-empty ASCII digit string, because a check
    digit computed over garbage would silently produce an invalid identifier.
    """
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"Luhn payload must be a non-empty string of digits, got {digits!r}")
    return str((10 - _luhn_sum(digits, double_rightmost=True) % 10) % 10)


def luhn_is_valid(value: str) -> bool:
    """Tell whether `value` (payload followed by its check digit) passes the Luhn test.

    Non-digit characters and values shorter than two digits are invalid rather than errors, so
    callers can use this directly as a validation predicate on untrusted input.
    """
    if len(value) < 2 or not value.isascii() or not value.isdigit():
        return False
    return _luhn_sum(value, double_rightmost=False) % 10 == 0
