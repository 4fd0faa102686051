"""How the review console shows a pair: both records field by field, differences marked, the
engine's explanation next to the row it explains. Plain values for templates; no queries."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from registration.console.display import name_text
from registration.models import Gender, MaritalStatus, Patient
from registration.services.inputs import PatientInput

# Which of the engine's explanation fields belong to which compared row.
EXPLAINS: dict[str, tuple[str, ...]] = {
    "names": ("family", "given"),
    "birth_date": ("birth_date",),
    "gender": ("sex",),
    "identifiers": ("identifiers",),
    "telecoms": ("phone", "email"),
    "addresses": ("postal_code", "address"),
}


@dataclass(frozen=True, slots=True)
class Explained:
    """One explanation entry as a steward reads it."""

    field: str
    level: str
    weight: str
    favours: bool


@dataclass(frozen=True, slots=True)
class CompareRow:
    """One field of both records, side by side."""

    key: str
    label: str
    left: list[str]
    right: list[str]
    differs: bool
    explanation: list[Explained]
    # What the field would hold after a merge into the left / right record (preview).
    if_left_survives: list[str]
    if_right_survives: list[str]


def _identifiers(patient: Patient) -> list[str]:
    return [
        f"{i.type_code or 'ID'} {i.value} ({i.use}{', retired' if i.retired_at else ''})"
        for i in patient.identifiers.all()
    ]


def _values(patient: Patient) -> dict[str, list[str]]:
    return {
        "names": [f"{name_text(n.family, n.given)} ({n.use})" for n in patient.names.all()],
        "birth_date": [patient.birth_date.isoformat() if patient.birth_date else "unknown"],
        "gender": [patient.get_gender_display()],
        "identifiers": _identifiers(patient),
        "telecoms": [f"{t.system}: {t.value}" for t in patient.telecoms.all()],
        "addresses": [
            ", ".join(p for p in (" ".join(a.lines), a.postal_code, a.city, a.country) if p)
            for a in patient.addresses.all()
        ],
        "contacts": [
            f"{c.get_relationship_display()}: {' '.join(c.given)} {c.family}".strip()
            for c in patient.contacts.all()
        ],
        "language": [patient.language or "—"],
        "marital_status": [patient.get_marital_status_display() or "—"],
        "preferred_facility": [patient.preferred_facility or "—"],
        "mothers_maiden_name": [patient.mothers_maiden_name or "—"],
        "confidentiality": [patient.get_confidentiality_display()],
        "record": [
            f"{'active' if patient.active else 'inactive'}, version {patient.version}, "
            f"registered {patient.created_at:%Y-%m-%d}"
        ],
    }


def _input_values(record: PatientInput | None) -> dict[str, list[str]]:
    """A merge preview's record, shown like `_values` shows a stored one."""
    if record is None:
        return {}
    return {
        "names": [f"{name_text(n.family, n.given)} ({n.use})" for n in record.names],
        "birth_date": [record.birth_date.isoformat() if record.birth_date else "unknown"],
        "gender": [str(dict(Gender.choices).get(record.gender, record.gender))],
        "identifiers": [f"{i.type_code or 'ID'} {i.value} ({i.use})" for i in record.identifiers],
        "telecoms": [f"{t.system}: {t.value}" for t in record.telecoms],
        "addresses": [
            ", ".join(p for p in (" ".join(a.lines), a.postal_code, a.city, a.country) if p)
            for a in record.addresses
        ],
        "contacts": [
            f"{c.relationship}: {' '.join(c.given)} {c.family}".strip() for c in record.contacts
        ],
        "language": [record.language or "—"],
        "marital_status": [str(dict(MaritalStatus.choices).get(record.marital_status, "")) or "—"],
        "preferred_facility": [record.preferred_facility or "—"],
        "mothers_maiden_name": [record.mothers_maiden_name or "—"],
        "confidentiality": [record.confidentiality],
    }


LABELS = {
    "names": "Names",
    "birth_date": "Birth date",
    "gender": "Gender",
    "identifiers": "Identifiers",
    "telecoms": "Phone and email",
    "addresses": "Addresses",
    "contacts": "Contacts",
    "language": "Language",
    "marital_status": "Marital status",
    "preferred_facility": "Preferred facility",
    "mothers_maiden_name": "Mother's maiden name",
    "confidentiality": "Confidentiality",
    "record": "Record",
}


def _explained(entries: Iterable[Mapping[str, Any]], fields: tuple[str, ...]) -> list[Explained]:
    found = []
    for entry in entries:
        if entry.get("field") in fields:
            weight = float(entry.get("weight") or 0.0)
            found.append(
                Explained(
                    field=str(entry.get("field")),
                    level=str(entry.get("level", "")),
                    weight=f"{weight:+.1f}",
                    favours=weight > 0,
                )
            )
    return found


def compare_rows(
    left: Patient,
    right: Patient,
    explanation: Iterable[Mapping[str, Any]],
    *,
    if_left_survives: PatientInput | None = None,
    if_right_survives: PatientInput | None = None,
) -> list[CompareRow]:
    """Both records, field by field, with differences marked, the evidence per row and (when
    given) the merge previews with either record as the survivor."""
    entries = list(explanation)
    mine, theirs = _values(left), _values(right)
    as_left, as_right = _input_values(if_left_survives), _input_values(if_right_survives)
    return [
        CompareRow(
            key=key,
            label=label,
            left=mine[key],
            right=theirs[key],
            differs=key != "record" and sorted(mine[key]) != sorted(theirs[key]),
            explanation=_explained(entries, EXPLAINS.get(key, ())),
            if_left_survives=as_left.get(key, []),
            if_right_survives=as_right.get(key, []),
        )
        for key, label in LABELS.items()
    ]
