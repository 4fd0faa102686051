"""Patient elements other registration features own: deceased[x] (vital status), photo
(portraits) and link (merges and enterprise links).

Each is one renderer plugged into the mapper (`register_element_renderer`). On input they are
accepted (`accept_input_element`) but never written through the Patient: each has its own
service (vital status, the portrait API, merges / enterprise linking). A create or update that
carries one of them must state what is already stored (so that a client may PUT back what it
read); a different value is **422** `business-rule` pointing at the right API.
`register_derived_elements()` is called once from `RegistrationConfig.ready()`.
"""

from typing import Any

from django.urls import reverse

from registration.fhir.mapping import (
    Json,
    accept_input_element,
    register_element_renderer,
    register_input_check,
)
from registration.models import DatePrecision, Patient, VitalStatus
from registration.selectors.portraits import portrait_exists
from tenancy.errors import DomainError, FieldError
from tenancy.modules import PORTRAIT
from tenancy.selectors.entitlements import module_entitled

PORTRAIT_CONTENT_TYPE = "image/jpeg"
_DATE_LENGTH: dict[str, int] = {
    DatePrecision.YEAR: 4,
    DatePrecision.MONTH: 7,
    DatePrecision.DAY: 10,
}


class ReadOnlyElementError(DomainError):
    """A FHIR write asks to change an element that has its own API (422 `business-rule`)."""

    code = "read-only-element"
    title = "Element changed through another API"
    status = 422


# --- deceased[x] -------------------------------------------------------------------------------


def deceased_value(patient: Patient) -> Json:
    """`deceasedDateTime` (to the known precision), `deceasedBoolean`, or nothing.

    Deceased with a date: `deceasedDateTime` as YYYY, YYYY-MM or YYYY-MM-DD (the stored date
    is the first day of the known period); deceased without a date: `deceasedBoolean: true`.
    Alive and unknown render nothing (FHIR: absent means not known to be deceased).
    """
    if patient.vital_status != VitalStatus.DECEASED:
        return {}
    if patient.deceased_date is None:
        return {"deceasedBoolean": True}
    length = _DATE_LENGTH.get(patient.deceased_date_precision, 10)
    return {"deceasedDateTime": patient.deceased_date.isoformat()[:length]}


def _render_deceased(patient: Patient, resource: Json) -> None:
    resource.update(deceased_value(patient))


def _deceased_matches(body: Json, current: Patient | None) -> bool:
    status = current.vital_status if current is not None else VitalStatus.ALIVE
    stated = current is not None and deceased_value(current)
    if "deceasedBoolean" in body:
        if body["deceasedBoolean"] is True:
            return status == VitalStatus.DECEASED
        return status == VitalStatus.ALIVE
    value = str(body["deceasedDateTime"])
    rendered = str((stated or {}).get("deceasedDateTime", ""))
    if not rendered:
        return False
    # A full dateTime on a day-precision date states the same day.
    return value == rendered or (len(rendered) == 10 and value[:10] == rendered)


def _check_deceased(body: Json, current: Patient | None) -> None:
    if "deceasedBoolean" not in body and "deceasedDateTime" not in body:
        return
    if not _deceased_matches(body, current):
        element = "deceasedBoolean" if "deceasedBoolean" in body else "deceasedDateTime"
        raise ReadOnlyElementError(
            "Vital status is not changed through the Patient resource; record, correct or "
            "refute a death with the vital-status API (/api/v1/patients/{id}/vital-status).",
            errors=[
                FieldError(f"Patient.{element}", "read-only", "Must equal the stored vital status.")
            ],
        )


# --- photo -------------------------------------------------------------------------------------


def portrait_url(patient: Patient) -> str:
    """The REST endpoint serving the patient's portrait (host-relative)."""
    return reverse("v1:patient-portrait", kwargs={"patient_id": patient.id})


def photo_value(patient: Patient) -> list[Json]:
    """The portrait as an Attachment by reference (never inlined), when licensed and present.

    Renderers run only for callers allowed to open the patient (others get the masked
    resource), so the remaining conditions are the `portrait` licence and a stored portrait.
    """
    if not module_entitled(PORTRAIT):
        return []
    rows = getattr(patient, "portrait_rows", None)  # prefetched for pages: with_portrait_rows
    if rows is None:
        if not portrait_exists(patient_id=patient.id):
            return []
        content_type = PORTRAIT_CONTENT_TYPE
    elif not rows:
        return []
    else:
        content_type = rows[0].content_type or PORTRAIT_CONTENT_TYPE
    return [{"contentType": content_type, "url": portrait_url(patient)}]


def _render_photo(patient: Patient, resource: Json) -> None:
    photo = photo_value(patient)
    if photo:
        resource["photo"] = photo


def _check_photo(body: Json, current: Patient | None) -> None:
    if "photo" not in body:
        return
    stored = photo_value(current) if current is not None else []
    if body["photo"] != stored:
        raise ReadOnlyElementError(
            "The portrait is not changed through the Patient resource; upload or remove it "
            "with the portrait API (/api/v1/patients/{id}/portrait).",
            errors=[FieldError("Patient.photo", "read-only", "Must equal the stored portrait.")],
        )


# --- link --------------------------------------------------------------------------------------


def link_value(patient: Patient) -> list[Json]:
    """Patient.link from the prefetched links: replaced-by, replaces, seealso (refer)."""
    return [
        {"other": {"reference": f"Patient/{link.other_id}"}, "type": link.type}
        for link in patient.links.all()
    ]


def _render_link(patient: Patient, resource: Json) -> None:
    links = link_value(patient)
    if links:
        resource["link"] = links


def _link_key(link: Any) -> tuple[str, str]:
    if not isinstance(link, dict):
        return ("", "")
    other = link.get("other") or {}
    return (str(other.get("reference", "")), str(link.get("type", "")))


def _check_link(body: Json, current: Patient | None) -> None:
    if "link" not in body:
        return
    stored = link_value(current) if current is not None else []
    if sorted(map(_link_key, body["link"])) != sorted(map(_link_key, stored)):
        raise ReadOnlyElementError(
            "Links are not changed through the Patient resource; they come from merges and "
            "enterprise linking (the MPI's merge and link APIs).",
            errors=[FieldError("Patient.link", "read-only", "Must equal the stored links.")],
        )


def register_derived_elements() -> None:
    """Plug deceased[x], photo and link into the FHIR mapper (from RegistrationConfig.ready)."""
    for renderer in (_render_deceased, _render_photo, _render_link):
        register_element_renderer(renderer)
    for element in ("deceasedBoolean", "deceasedDateTime", "photo", "link"):
        accept_input_element(element)
    for check in (_check_deceased, _check_photo, _check_link):
        register_input_check(check)
