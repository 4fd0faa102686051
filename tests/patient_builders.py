"""Patient inputs for tests: realistic, valid by default, easy to vary."""

import itertools
from dataclasses import replace
from datetime import date
from typing import Any

from registration.services.inputs import (
    AddressInput,
    ContactInput,
    IdentifierInput,
    NameInput,
    PatientInput,
    TelecomInput,
)

MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.0.1"
_mrn = itertools.count(100001)


def patient_data(**changes: Any) -> PatientInput:
    """A complete, valid patient with a unique MRN; keyword arguments replace fields."""
    base = PatientInput(
        names=(NameInput(family="Okafor", given=("Adaeze", "Grace"), use="official"),),
        gender="female",
        birth_date=date(1987, 3, 14),
        identifiers=(IdentifierInput(system=MRN_SYSTEM, value=f"MRN{next(_mrn)}", type_code="MR"),),
        telecoms=(TelecomInput(system="phone", value="+1 (617) 555-0142", use="mobile"),),
        addresses=(
            AddressInput(
                lines=("12 Elm Street",),
                city="Boston",
                state="MA",
                postal_code="02118",
                country="US",
            ),
        ),
        contacts=(
            ContactInput(relationship="N", family="Okafor", given=("Chidi",), phone="617-555-0199"),
        ),
        language="en",
        marital_status="M",
    )
    return replace(base, **changes)


def api_body(data: PatientInput | None = None) -> dict[str, Any]:
    """The REST representation of a PatientInput."""
    data = data or patient_data()
    return {
        "names": [{"use": n.use, "family": n.family, "given": list(n.given)} for n in data.names],
        "gender": data.gender,
        "birth_date": data.birth_date.isoformat() if data.birth_date else None,
        "identifiers": [
            {"system": i.system, "value": i.value, "type_code": i.type_code}
            for i in data.identifiers
        ],
        "telecoms": [{"system": t.system, "value": t.value, "use": t.use} for t in data.telecoms],
        "addresses": [
            {
                "lines": list(a.lines),
                "city": a.city,
                "state": a.state,
                "postal_code": a.postal_code,
                "country": a.country,
            }
            for a in data.addresses
        ],
        "contacts": [
            {
                "relationship": c.relationship,
                "family": c.family,
                "given": list(c.given),
                "phone": c.phone,
            }
            for c in data.contacts
        ],
        "language": data.language,
        "marital_status": data.marital_status,
    }
