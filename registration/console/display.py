"""How the console shows patients, duplicate candidates and history rows: plain values for the
templates, computed from rows the selectors already loaded (no queries here)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from registration.models import (
    Gender,
    GrantKind,
    Patient,
    PatientAccessGrant,
    PatientName,
    TelecomSystem,
)
from tenancy.models import AuditEvent

MATCH_REASONS = {
    "identifier": "same identifier",
    "name_and_birth_date": "same name and birth date",
}
ACTIONS = {
    "patient.registered": "Registered",
    "patient.updated": "Updated",
    "patient.deactivated": "Deactivated",
    "patient.identifier_added": "Identifier added",
    "patient.identifier_retired": "Identifier retired",
    "patient.read": "Record opened",
    "patient.searched": "Listed in search results",
    "patient.duplicate_shown": "Shown as a possible duplicate",
    "patient.vital_status_recorded": "Death recorded",
    "patient.vital_status_verified": "Death verified",
    "patient.vital_status_refuted": "Death refuted",
    "patient.vital_status_corrected": "Date of death corrected",
    "patient.vital_status_read": "Vital status opened",
    "patient.worklist_shown": "Listed on the death worklist",
    "access_grant.created": "Care-team access granted",
    "access_grant.revoked": "Access revoked",
}
_GENDERS = dict(Gender.choices)
_PHONE_SYSTEMS = {TelecomSystem.PHONE, TelecomSystem.SMS}


def name_text(family: str, given: Iterable[str]) -> str:
    """ "FAMILY, Given Names" as front desks read them; "(no name)" when both are empty."""
    given_text = " ".join(given)
    if family and given_text:
        return f"{family.upper()}, {given_text}"
    return family.upper() or given_text or "(no name)"


def _first_name(patient: Patient) -> PatientName | None:
    return next(iter(patient.names.all()), None)


@dataclass(frozen=True, slots=True)
class PatientRow:
    """One line of the search results."""

    id: str
    name: str
    other_names: list[str]
    birth_date: date | None
    gender: str
    identifiers: list[str]
    phones: list[str]
    place: str
    active: bool
    masked: bool = False


def patient_row(patient: Patient) -> PatientRow:
    """A search result line from a patient whose children were prefetched."""
    names = list(patient.names.all())
    address = next(iter(patient.addresses.all()), None)
    return PatientRow(
        id=str(patient.id),
        name=name_text(names[0].family, names[0].given) if names else "(no name)",
        other_names=[name_text(n.family, n.given) for n in names[1:]],
        birth_date=patient.birth_date,
        gender=_GENDERS.get(patient.gender, patient.gender),
        identifiers=[
            f"{i.type_code or 'ID'} {i.value}"
            for i in patient.identifiers.all()
            if i.retired_at is None
        ],
        phones=[t.value for t in patient.telecoms.all() if t.system in _PHONE_SYSTEMS],
        place=" ".join(p for p in (address.postal_code, address.city) if p) if address else "",
        active=patient.active,
    )


def masked_row(patient: Patient) -> PatientRow:
    """A restricted patient the user may not open: that the record exists, nothing that
    identifies the person."""
    return PatientRow(
        id=str(patient.id),
        name="Restricted record",
        other_names=[],
        birth_date=None,
        gender="—",
        identifiers=[],
        phones=[],
        place="",
        active=patient.active,
        masked=True,
    )


def patient_title(patient: Patient) -> str:
    """The patient's main name, for page titles."""
    name = _first_name(patient)
    return name_text(name.family, name.given) if name else "(no name)"


def candidate_view(summary: Mapping[str, Any], url: str) -> dict[str, Any]:
    """A likely duplicate as the registration form lists it (also the live check's JSON)."""
    probability = summary.get("probability")
    return {
        "patient_id": summary["patient_id"],
        "url": url,
        "name": "Restricted record"
        if summary.get("restricted")
        else name_text(summary.get("family") or "", summary.get("given") or []),
        "birth_date": summary.get("birth_date") or "unknown",
        "gender": _GENDERS.get(summary.get("gender") or "", summary.get("gender") or ""),
        "matched_on": [MATCH_REASONS.get(m, m) for m in summary.get("matched_on") or []],
        "probability": f"{probability:.0%}" if isinstance(probability, float) else "",
    }


def _detail_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_detail_text(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_detail_text(item)}" for key, item in value.items())
    return str(value)


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One line of a patient's history."""

    occurred_at: datetime
    action: str
    code: str
    actor: str
    details: str
    request_id: str


def history_rows(events: Iterable[AuditEvent]) -> list[HistoryRow]:
    """History lines from audit rows loaded with their actors."""
    return [
        HistoryRow(
            occurred_at=event.occurred_at,
            action=ACTIONS.get(event.action, event.action),
            code=event.action,
            actor=_actor(event),
            details=_detail_text(event.details) if event.details else "",
            request_id=event.request_id,
        )
        for event in events
    ]


def _actor(event: AuditEvent) -> str:
    if event.actor_user is not None:
        return event.actor_user.get_username()
    if event.actor_api_key is not None:
        return f"API key {event.actor_api_key.name}"
    return "system"


@dataclass(frozen=True, slots=True)
class GrantRow:
    """One line of a patient's care-team panel."""

    id: str
    kind: str
    break_glass: bool
    grantee: str
    reason: str
    granted_at: datetime
    granted_by: str
    expires_at: datetime | None


def actor_name(label: str, members: Mapping[int, str]) -> str:
    """A PHI-free actor label (`user:42`, `api-key:…`, '') as a person reads it."""
    kind, _, ident = label.partition(":")
    if kind == "user" and ident.isdigit() and int(ident) in members:
        return members[int(ident)]
    return label or "system"


def grant_row(grant: PatientAccessGrant, members: Mapping[int, str]) -> GrantRow:
    """A grant as the care-team panel shows it (usernames of the tenant's members)."""
    if grant.grantee_user_id is not None:
        grantee = members.get(grant.grantee_user_id, f"user {grant.grantee_user_id}")
    else:
        grantee = f"API key {grant.grantee_api_key_id}"
    return GrantRow(
        id=str(grant.id),
        kind=grant.get_kind_display(),
        break_glass=grant.kind == GrantKind.BREAK_GLASS,
        grantee=grantee,
        reason=grant.reason_text,
        granted_at=grant.granted_at,
        granted_by=actor_name(grant.granted_by, members),
        expires_at=grant.expires_at,
    )
