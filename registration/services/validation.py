"""The rules a patient record must satisfy, checked field by field before anything is written.

Every problem is reported with its path (`identifiers.1.value`) and a message that names the
rule, never the offending value: error texts are logged and must not carry PHI.
"""

import re
from collections.abc import Sequence
from datetime import date

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator

from registration.models import (
    AddressType,
    AddressUse,
    CheckDigitAlgorithm,
    Confidentiality,
    ContactRelationship,
    Gender,
    IdentifierDomain,
    IdentifierUse,
    MaritalStatus,
    NameUse,
    TelecomSystem,
    TelecomUse,
)
from registration.services.inputs import (
    AddressInput,
    ContactInput,
    IdentifierInput,
    NameInput,
    PatientInput,
    TelecomInput,
)
from tenancy.errors import FieldError

EARLIEST_BIRTH_DATE = date(1880, 1, 1)
IDENTIFIER_TYPE_CODES = frozenset(
    # HL7 v2 table 0203 codes in common use for patient identifiers.
    {
        "MR",
        "SS",
        "DL",
        "PPN",
        "NI",
        "PI",
        "PT",
        "AN",
        "PRN",
        "TAX",
        "NH",
        "BRN",
        "MB",
        "MC",
        "DR",
        "SB",
        "JHN",
        "U",
    }
)
# Shared with the API serializers, so the OpenAPI schema states the same patterns.
# ASCII-only classes: Python's and ECMAScript's \s differ, and OpenAPI patterns are ECMAScript.
SYSTEM_PATTERN = r"^(urn:oid:[0-2](\.(0|[1-9][0-9]*))+|urn:uuid:[0-9a-f-]{36}|https?://[!-~]+)$"
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
_SYSTEM_PATTERN = re.compile(SYSTEM_PATTERN)
_LANGUAGE_PATTERN = re.compile(LANGUAGE_PATTERN)
_COUNTRY_PATTERN = re.compile(r"^[A-Z]{2}$")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_MIN_PHONE_DIGITS = 7
_MAX_PHONE_DIGITS = 15  # ITU-T E.164
_email_validator = EmailValidator()
# Choices.values rebuilds its list on every call; bulk loads validate millions of fields.
_CODES: dict[type, frozenset[str]] = {
    codes: frozenset(codes.values)
    for codes in (
        NameUse,
        Gender,
        MaritalStatus,
        Confidentiality,
        IdentifierUse,
        TelecomSystem,
        TelecomUse,
        AddressUse,
        AddressType,
        ContactRelationship,
    )
}


class _Collector:
    """Accumulates field errors with their paths."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, path: str, code: str, message: str) -> None:
        self.errors.append(FieldError(path, code, message))

    def text(self, path: str, value: str, max_length: int, *, required: bool = False) -> None:
        if required and not value.strip():
            self.add(path, "required", "This field is required.")
        if len(value) > max_length:
            self.add(path, "max_length", f"At most {max_length} characters.")
        if _CONTROL_CHARACTERS.search(value):
            self.add(path, "invalid_characters", "Control characters are not allowed.")

    def choice(
        self, path: str, value: str, choices: frozenset[str], *, allow_blank: bool = False
    ) -> None:
        if allow_blank and value == "":
            return
        if value not in choices:
            self.add(path, "invalid_choice", "Not a known code for this field.")

    def texts(self, path: str, values: Sequence[str], *, max_items: int, max_length: int) -> None:
        if len(values) > max_items:
            self.add(path, "max_items", f"At most {max_items} items.")
        for index, value in enumerate(values):
            self.text(f"{path}.{index}", value, max_length, required=True)

    def period(self, path: str, start: date | None, end: date | None) -> None:
        if start and end and end < start:
            self.add(f"{path}.period_end", "period_order", "The period ends before it starts.")


def luhn_is_valid(value: str) -> bool:
    """True when the digits of `value` pass the Luhn (mod 10) check."""
    if not value.isdigit() or len(value) < 2:
        return False
    total = 0
    for position, char in enumerate(reversed(value)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _validate_names(check: _Collector, names: Sequence[NameInput]) -> None:
    if not names:
        check.add("names", "required", "At least one name is required.")
    if len(names) > 10:
        check.add("names", "max_items", "At most 10 names.")
    for index, name in enumerate(names):
        path = f"names.{index}"
        check.choice(f"{path}.use", name.use, _CODES[NameUse])
        check.text(f"{path}.family", name.family, 100)
        check.texts(f"{path}.given", name.given, max_items=5, max_length=100)
        check.texts(f"{path}.prefix", name.prefix, max_items=3, max_length=30)
        check.texts(f"{path}.suffix", name.suffix, max_items=3, max_length=30)
        if not name.family.strip() and not any(g.strip() for g in name.given):
            check.add(path, "empty_name", "A name needs a family or a given name.")
        check.period(path, name.period_start, name.period_end)


def _validate_identifier(
    check: _Collector, path: str, identifier: IdentifierInput, domains: dict[str, IdentifierDomain]
) -> None:
    check.text(f"{path}.system", identifier.system, 255, required=True)
    check.text(f"{path}.value", identifier.value, 100, required=True)
    if identifier.system and not _SYSTEM_PATTERN.fullmatch(identifier.system):
        check.add(
            f"{path}.system",
            "invalid_uri",
            "The system must be an absolute URI (urn:oid:, urn:uuid: or http(s)://).",
        )
    if identifier.value != identifier.value.strip():
        check.add(f"{path}.value", "whitespace", "No leading or trailing spaces.")
    if identifier.type_code and identifier.type_code not in IDENTIFIER_TYPE_CODES:
        check.add(
            f"{path}.type_code",
            "invalid_choice",
            "Not a known identifier type (HL7 v2 table 0203).",
        )
    check.choice(f"{path}.use", identifier.use, _CODES[IdentifierUse])
    check.period(path, identifier.period_start, identifier.period_end)
    domain = domains.get(identifier.system)
    if domain is None or not identifier.value:
        return
    if domain.format_regex and not re.fullmatch(domain.format_regex, identifier.value):
        check.add(f"{path}.value", "format", f"Does not match the format of {domain.name}.")
    elif domain.check_digit == CheckDigitAlgorithm.LUHN and not luhn_is_valid(identifier.value):
        check.add(
            f"{path}.value", "check_digit", f"The check digit of this {domain.name} is wrong."
        )


def validate_identifiers(
    check: _Collector,
    identifiers: Sequence[IdentifierInput],
    domains: dict[str, IdentifierDomain],
    *,
    prefix: str = "identifiers",
) -> None:
    """Each identifier well-formed and valid for its domain; no system+value twice."""
    seen: set[tuple[str, str]] = set()
    for index, identifier in enumerate(identifiers):
        path = f"{prefix}.{index}"
        _validate_identifier(check, path, identifier, domains)
        key = (identifier.system, identifier.value)
        if key in seen:
            check.add(path, "duplicate", "The same identifier is listed twice.")
        seen.add(key)


def _validate_telecom(check: _Collector, path: str, telecom: TelecomInput) -> None:
    check.choice(f"{path}.system", telecom.system, _CODES[TelecomSystem])
    check.choice(f"{path}.use", telecom.use, _CODES[TelecomUse], allow_blank=True)
    check.text(f"{path}.value", telecom.value, 255, required=True)
    if telecom.rank is not None and not 1 <= telecom.rank <= 100:
        check.add(f"{path}.rank", "range", "Rank is between 1 and 100.")
    if telecom.system in {TelecomSystem.PHONE, TelecomSystem.SMS, TelecomSystem.FAX}:
        digits = re.sub(r"\D", "", telecom.value)
        if not _MIN_PHONE_DIGITS <= len(digits) <= _MAX_PHONE_DIGITS or re.search(
            r"[^\d\s()+.\-/x]", telecom.value
        ):
            check.add(f"{path}.value", "phone", "Not a phone number (7 to 15 digits).")
    elif telecom.system == TelecomSystem.EMAIL:
        try:
            _email_validator(telecom.value)
        except DjangoValidationError:
            check.add(f"{path}.value", "email", "Not an email address.")


def _validate_address(check: _Collector, path: str, address: AddressInput) -> None:
    check.choice(f"{path}.use", address.use, _CODES[AddressUse], allow_blank=True)
    check.choice(f"{path}.type", address.type, _CODES[AddressType], allow_blank=True)
    check.texts(f"{path}.lines", address.lines, max_items=4, max_length=200)
    for name, limit in (("city", 100), ("district", 100), ("state", 100), ("postal_code", 20)):
        check.text(f"{path}.{name}", getattr(address, name), limit)
    if address.country and not _COUNTRY_PATTERN.fullmatch(address.country):
        check.add(f"{path}.country", "iso3166", "Use an ISO 3166 two-letter country code.")
    if not (address.lines or address.city or address.postal_code):
        check.add(path, "empty_address", "An address needs a line, a city or a postal code.")
    check.period(path, address.period_start, address.period_end)


def _validate_contact(check: _Collector, path: str, contact: ContactInput) -> None:
    check.choice(f"{path}.relationship", contact.relationship, _CODES[ContactRelationship])
    check.text(f"{path}.family", contact.family, 100)
    check.texts(f"{path}.given", contact.given, max_items=5, max_length=100)
    check.text(f"{path}.phone", contact.phone, 50)
    check.text(f"{path}.email", contact.email, 254)
    check.text(f"{path}.organization", contact.organization, 200)
    if not (contact.family or contact.given or contact.organization):
        check.add(path, "empty_contact", "A contact needs a name or an organization.")
    if contact.email:
        try:
            _email_validator(contact.email)
        except DjangoValidationError:
            check.add(f"{path}.email", "email", "Not an email address.")


def _limit(check: _Collector, path: str, items: Sequence[object], limit: int) -> None:
    if len(items) > limit:
        check.add(path, "max_items", f"At most {limit} items.")


def validate_patient(
    data: PatientInput, *, today: date, domains: dict[str, IdentifierDomain]
) -> list[FieldError]:
    """Every rule of a whole patient record; an empty list means it may be stored."""
    check = _Collector()
    _validate_names(check, data.names)
    check.choice("gender", data.gender, _CODES[Gender])
    check.choice("marital_status", data.marital_status, _CODES[MaritalStatus], allow_blank=True)
    check.choice("confidentiality", data.confidentiality, _CODES[Confidentiality])
    if data.birth_date is not None:
        if data.birth_date > today:
            check.add("birth_date", "future", "The birth date is in the future.")
        elif data.birth_date < EARLIEST_BIRTH_DATE:
            check.add("birth_date", "too_early", "The birth date is before 1880.")
    if data.language and (
        len(data.language) > 35 or not _LANGUAGE_PATTERN.fullmatch(data.language)
    ):
        check.add("language", "bcp47", "Use a BCP-47 language tag such as 'en' or 'es-MX'.")
    check.text("preferred_facility", data.preferred_facility, 64)
    check.text("mothers_maiden_name", data.mothers_maiden_name, 100)
    validate_identifiers(check, data.identifiers, domains)
    _limit(check, "telecoms", data.telecoms, 20)
    for index, telecom in enumerate(data.telecoms):
        _validate_telecom(check, f"telecoms.{index}", telecom)
    _limit(check, "addresses", data.addresses, 10)
    for index, address in enumerate(data.addresses):
        _validate_address(check, f"addresses.{index}", address)
    _limit(check, "contacts", data.contacts, 10)
    for index, contact in enumerate(data.contacts):
        _validate_contact(check, f"contacts.{index}", contact)
    return check.errors


def validate_identifier_list(
    identifiers: Sequence[IdentifierInput], domains: dict[str, IdentifierDomain], *, prefix: str
) -> list[FieldError]:
    """Rules for identifiers added on their own (outside a whole record)."""
    check = _Collector()
    validate_identifiers(check, identifiers, domains, prefix=prefix)
    return check.errors
