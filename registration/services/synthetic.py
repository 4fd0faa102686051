"""Synthetic people (registration.synthetic, plain data) as registration service inputs."""

from uuid import UUID

from registration.services.inputs import (
    AddressInput,
    IdentifierInput,
    NameInput,
    PatientInput,
    TelecomInput,
)
from registration.synthetic import SyntheticPerson


def synthetic_to_input(person: SyntheticPerson) -> tuple[UUID, PatientInput]:
    """Map a generated person onto the registration services' input."""
    given = tuple(g for g in (person.given, person.middle) if g)
    names = [NameInput(family=person.family, given=given, use="official")]
    if person.maiden_family and person.maiden_family != person.family:
        names.append(NameInput(family=person.maiden_family, given=given[:1], use="maiden"))
    telecoms = [TelecomInput(system="phone", value=phone, use="home") for phone in person.phones]
    if person.email:
        telecoms.append(TelecomInput(system="email", value=person.email, use="home"))
    address = AddressInput(
        lines=(person.line,) if person.line else (),
        city=person.city or "",
        state=person.state or "",
        postal_code=person.postal_code or "",
        country=person.country or "",
        use="home",
    )
    return UUID(person.record_id), PatientInput(
        names=tuple(names),
        gender=person.gender,
        birth_date=person.birth_date,
        identifiers=tuple(
            IdentifierInput(system=i.system, value=i.value, type_code=i.type_code)
            for i in person.identifiers
        ),
        telecoms=tuple(telecoms),
        addresses=(address,) if (address.lines or address.city or address.postal_code) else (),
        language=person.language or "",
        marital_status=person.marital_status or "",
    )
