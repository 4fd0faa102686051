"""What a caller hands the registration services: plain, typed data, whoever the caller is
(REST, FHIR, console, bulk import). Interfaces map their own shapes onto these."""

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class NameInput:
    """One name of the patient."""

    family: str = ""
    given: tuple[str, ...] = ()
    use: str = "official"
    prefix: tuple[str, ...] = ()
    suffix: tuple[str, ...] = ()
    period_start: date | None = None
    period_end: date | None = None


@dataclass(frozen=True, slots=True)
class IdentifierInput:
    """An identifier with its assigning authority (`system`)."""

    system: str
    value: str
    type_code: str = ""
    use: str = "usual"
    period_start: date | None = None
    period_end: date | None = None


@dataclass(frozen=True, slots=True)
class TelecomInput:
    """A contact point."""

    system: str
    value: str
    use: str = ""
    rank: int | None = None


@dataclass(frozen=True, slots=True)
class AddressInput:
    """An address."""

    lines: tuple[str, ...] = ()
    city: str = ""
    district: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""
    use: str = ""
    type: str = ""
    period_start: date | None = None
    period_end: date | None = None


@dataclass(frozen=True, slots=True)
class ContactInput:
    """Someone to contact about the patient."""

    relationship: str
    family: str = ""
    given: tuple[str, ...] = ()
    phone: str = ""
    email: str = ""
    organization: str = ""


@dataclass(frozen=True, slots=True)
class PatientInput:
    """A whole patient record as the caller states it."""

    names: tuple[NameInput, ...] = ()
    gender: str = "unknown"
    birth_date: date | None = None
    identifiers: tuple[IdentifierInput, ...] = ()
    telecoms: tuple[TelecomInput, ...] = ()
    addresses: tuple[AddressInput, ...] = ()
    contacts: tuple[ContactInput, ...] = ()
    language: str = ""
    marital_status: str = ""
    confidentiality: str = "normal"
    preferred_facility: str = ""
    mothers_maiden_name: str = ""
