"""The patient record as the matching engine sees it: normalized, immutable, framework-free.

Keeping the engine's own record type (rather than a Django model) lets the matcher be tested,
trained and benchmarked without a database, and keeps normalization in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date

from mpi.matching.normalize import (
    PartialDate,
    PlaceholderField,
    PlaceholderPolicy,
    normalize_address,
    normalize_email,
    normalize_identifier_system,
    normalize_identifier_value,
    normalize_name,
    normalize_phone,
    normalize_postal_code,
    normalize_sex,
    parse_partial_date,
)

DEFAULT_PLACEHOLDER_POLICY = PlaceholderPolicy()


def _unless_placeholder(
    policy: PlaceholderPolicy, field_name: PlaceholderField, value: str | None
) -> str | None:
    """The value, or None when the policy says it is a placeholder for its field."""
    if value is None or policy.is_placeholder(field_name, value):
        return None
    return value


@dataclass(frozen=True)
class MatchRecord:
    """One patient record in normalized form; every field may be unknown.

    Build it with `from_raw` so that values are normalized and placeholders removed; the
    direct constructor expects values that are already normalized.
    """

    record_id: str = ""
    family: str | None = None
    given: str | None = None
    middle: str | None = None
    birth_date: PartialDate | None = None
    sex: str | None = None
    identifiers: tuple[tuple[str, str], ...] = ()
    phones: tuple[str, ...] = ()
    postal_code: str | None = None
    address_line: str | None = None
    email: str | None = None
    # The policy this very record was cleaned with (not copied by `replace`, not compared):
    # `without_placeholders` under the same policy is then a no-op, so a batch does not
    # re-normalize every value of both records for each pair it scores.
    cleaned_with: PlaceholderPolicy | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @classmethod
    def from_raw(
        cls,
        record_id: str = "",
        *,
        family: str | None = None,
        given: str | None = None,
        middle: str | None = None,
        birth_date: str | date | PartialDate | None = None,
        sex: str | None = None,
        identifiers: Iterable[tuple[str, str]] = (),
        phones: Iterable[str] = (),
        postal_code: str | None = None,
        address_line: str | None = None,
        email: str | None = None,
        policy: PlaceholderPolicy | None = None,
        country_code: str | None = None,
    ) -> MatchRecord:
        """Normalize raw field values and drop the tenant's placeholders.

        A malformed birth date raises ValueError (see `parse_partial_date`); other unusable
        values (a two-digit phone, an address without an "@") simply become unknown.
        """
        normalized_identifiers = {
            (system, value)
            for raw_system, raw_value in identifiers
            if (system := normalize_identifier_system(raw_system)) is not None
            and (value := normalize_identifier_value(raw_value)) is not None
        }
        normalized_phones = {
            phone
            for raw_phone in phones
            if (phone := normalize_phone(raw_phone, country_code=country_code)) is not None
        }
        record = cls(
            record_id=record_id,
            family=normalize_name(family),
            given=normalize_name(given),
            middle=normalize_name(middle),
            birth_date=parse_partial_date(birth_date),
            sex=normalize_sex(sex),
            identifiers=tuple(sorted(normalized_identifiers)),
            phones=tuple(sorted(normalized_phones)),
            postal_code=normalize_postal_code(postal_code),
            address_line=normalize_address(address_line),
            email=normalize_email(email),
        )
        return record.without_placeholders(policy or DEFAULT_PLACEHOLDER_POLICY)

    def without_identifier_systems(self, systems: Iterable[str]) -> MatchRecord:
        """This record without the identifiers of the given (normalized) systems.

        Dropping evidence cannot add a placeholder, so a cleaned record stays cleaned.
        """
        dropped = frozenset(systems)
        kept = replace(self, identifiers=tuple(i for i in self.identifiers if i[0] not in dropped))
        object.__setattr__(kept, "cleaned_with", self.cleaned_with)
        return kept

    def without_placeholders(self, policy: PlaceholderPolicy) -> MatchRecord:
        """This record with every placeholder value turned into "unknown".

        A whole-name placeholder ("John" + "Doe") removes both name parts; a single-part
        placeholder ("Baby Girl" as given name) removes only that part.
        """
        if self.cleaned_with is policy:
            return self

        family = _unless_placeholder(policy, "name", self.family)
        given = _unless_placeholder(policy, "name", self.given)
        if (
            self.family is not None
            and self.given is not None
            and policy.is_placeholder("name", f"{self.given} {self.family}")
        ):
            family = given = None
        birth_date = self.birth_date
        if birth_date is not None and policy.is_placeholder("birth_date", birth_date.isoformat()):
            birth_date = None
        cleaned = replace(
            self,
            family=family,
            given=given,
            middle=_unless_placeholder(policy, "name", self.middle),
            birth_date=birth_date,
            identifiers=tuple(
                (system, value)
                for system, value in self.identifiers
                if not policy.is_placeholder("identifier", value)
            ),
            phones=tuple(
                phone for phone in self.phones if not policy.is_placeholder("phone", phone)
            ),
            postal_code=_unless_placeholder(policy, "postal_code", self.postal_code),
            address_line=_unless_placeholder(policy, "address", self.address_line),
            email=_unless_placeholder(policy, "email", self.email),
        )
        object.__setattr__(cleaned, "cleaned_with", policy)
        return cleaned
