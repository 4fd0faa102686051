"""The row-level half of merging patients: registration owns patient rows, the MPI owns the
merge ledger and decides what the merged record is.

`patient_rows_snapshot` captures every row a merge may change (patients, their child rows,
their links, the enterprise ids of both records' enterprise groups) as JSON; `patients_merge_rows`
writes a merge; `patients_unmerge_rows` puts a snapshot back, keeping later edits to the
survivor. None of these write audit or outbox rows: the MPI's merge services call them inside
their own transaction and announce the merge once (`patient.merged` / `patient.unmerged`).
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from registration.models import (
    IdentifierUse,
    Patient,
    PatientAddress,
    PatientContact,
    PatientIdentifier,
    PatientLink,
    PatientLinkType,
    PatientName,
    PatientTelecom,
)
from registration.services.inputs import PatientInput
from registration.services.patients import (
    _apply_scalars,
    _changed_fields,
    _replace_children,
    patient_input_of,
)
from registration.services.search_keys import birth_year
from registration.services.versions import patient_versions_retain

Rows = list[dict[str, Any]]
Snapshot = dict[str, Any]

# Child tables of a patient row, by the snapshot key they are kept under.
CHILD_MODELS: dict[str, type[models.Model]] = {
    "names": PatientName,
    "identifiers": PatientIdentifier,
    "telecoms": PatientTelecom,
    "addresses": PatientAddress,
    "contacts": PatientContact,
    "links": PatientLink,
}
# Patient columns a merge or an unmerge rewrites as bookkeeping, not as record content.
BOOKKEEPING = ("version", "updated_at", "updated_by")
# Record fields (PatientInput) stored on the patient row itself.
SCALAR_FIELDS = (
    "gender",
    "birth_date",
    "language",
    "marital_status",
    "confidentiality",
    "preferred_facility",
    "mothers_maiden_name",
)
# Record fields stored as child lists the merge may rewrite on the survivor.
LIST_FIELDS = ("names", "telecoms", "addresses", "contacts")
MERGED_REASON = "merged"


class _ExactJSONEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder, but times keep their microseconds.

    DjangoJSONEncoder cuts times to milliseconds, so an unmerge restored a `created_at` of
    12:00:00.000450 as 12:00:00: not the row the merge found. A snapshot must restore exactly.
    """

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime | time):
            return o.isoformat()
        return super().default(o)


def _row(obj: models.Model) -> dict[str, Any]:
    values = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
    loaded: dict[str, Any] = json.loads(json.dumps(values, cls=_ExactJSONEncoder))
    return loaded


def _rows(model: type[models.Model], **lookup: Any) -> Rows:
    return [_row(obj) for obj in model._default_manager.filter(**lookup).order_by("pk")]


def _python(model: type[models.Model], row: Mapping[str, Any]) -> dict[str, Any]:
    fields = {f.attname: f for f in model._meta.concrete_fields}
    return {name: fields[name].to_python(value) for name, value in row.items()}


def patient_rows_snapshot(patient_ids: Iterable[UUID]) -> Snapshot:
    """Every row of these patients as JSON: the patient rows, each child table and the links."""
    ids = sorted(set(patient_ids))
    snapshot: Snapshot = {"patients": _rows(Patient, id__in=ids)}
    for key, model in CHILD_MODELS.items():
        snapshot[key] = _rows(model, patient_id__in=ids)
    return snapshot


def enterprise_ids_of(enterprise_ids: Iterable[UUID]) -> dict[str, str]:
    """Which patient holds which enterprise id, for every patient of these enterprise groups."""
    return {
        str(patient_id): str(enterprise_id)
        for patient_id, enterprise_id in Patient.objects.filter(
            enterprise_id__in=set(enterprise_ids)
        ).values_list("id", "enterprise_id")
    }


@dataclass(frozen=True, slots=True)
class MergeRowsResult:
    """What a merge wrote that its undo must find again."""

    copied_identifier_ids: list[int]
    repointed_link_ids: list[int]
    linked_patient_ids: list[UUID]


def _label(actor_label: str) -> str:
    return actor_label or "system"


def patients_merge_rows(
    *,
    survivor: Patient,
    subsumed: Patient,
    merged: PatientInput,
    merge_id: UUID,
    actor_label: str,
    now: datetime,
) -> MergeRowsResult:
    """Write a merge: the survivor takes the merged record, the subsumed record is retired.

    Both patient rows must be locked by the caller. The survivor's record becomes `merged`
    (identifiers aside); the subsumed record's active identifiers are retired on it and copied
    onto the survivor with use=old; the subsumed record turns inactive with a replaced-by link,
    the survivor gets replaces links, and replaced-by links that pointed at the subsumed record
    (earlier merges into it) now point at the survivor, so chains resolve to the final survivor.
    Every record of the subsumed record's enterprise group joins the survivor's.
    """
    patient_versions_retain([survivor.id, subsumed.id])
    before = patient_input_of(survivor)
    target = _with_identifiers(merged, before)
    changed = [f for f in _changed_fields(before, target) if f != "identifiers"]
    _replace_children(survivor, target, changed)
    _apply_scalars(survivor, target)

    moving = list(
        PatientIdentifier.objects.filter(patient=subsumed, retired_at__isnull=True).order_by("id")
    )
    PatientIdentifier.objects.filter(id__in=[i.id for i in moving]).update(
        retired_at=now, retired_reason=MERGED_REASON
    )
    copies = PatientIdentifier.objects.bulk_create(
        PatientIdentifier(
            tenant_id=survivor.tenant_id,
            patient=survivor,
            system=i.system,
            value=i.value,
            type_code=i.type_code,
            use=IdentifierUse.OLD,
            period_start=i.period_start,
            period_end=i.period_end,
        )
        for i in moving
    )

    earlier = list(
        PatientLink.objects.filter(other=subsumed, type=PatientLinkType.REPLACED_BY).order_by("id")
    )
    PatientLink.objects.filter(id__in=[link.id for link in earlier]).update(other=survivor)
    replaced = [subsumed.id, *(link.patient_id for link in earlier)]
    existing = set(
        PatientLink.objects.filter(
            patient=survivor, type=PatientLinkType.REPLACES, other_id__in=replaced
        ).values_list("other_id", flat=True)
    )
    PatientLink.objects.bulk_create(
        [
            PatientLink(
                tenant_id=survivor.tenant_id,
                patient=subsumed,
                other=survivor,
                type=PatientLinkType.REPLACED_BY,
                merge_id=merge_id,
                created_at=now,
            ),
            *(
                PatientLink(
                    tenant_id=survivor.tenant_id,
                    patient=survivor,
                    other_id=other_id,
                    type=PatientLinkType.REPLACES,
                    merge_id=merge_id,
                    created_at=now,
                )
                for other_id in replaced
                if other_id not in existing
            ),
        ]
    )

    linked = list(
        Patient.objects.filter(enterprise_id=subsumed.enterprise_id)
        .exclude(id=survivor.id)
        .order_by("id")
        .values_list("id", flat=True)
    )
    Patient.objects.filter(id__in=linked).update(enterprise_id=survivor.enterprise_id)

    label = _label(actor_label)
    survivor.version += 1
    survivor.updated_by = label
    survivor.save()
    Patient.objects.filter(id=subsumed.id).update(
        active=False,
        deactivated_at=now,
        deactivation_reason=MERGED_REASON,
        version=subsumed.version + 1,
        updated_by=label,
        updated_at=now,
        enterprise_id=survivor.enterprise_id,
    )
    subsumed.refresh_from_db()
    return MergeRowsResult(
        copied_identifier_ids=[c.id for c in copies],
        repointed_link_ids=[link.id for link in earlier],
        linked_patient_ids=linked,
    )


def _with_identifiers(data: PatientInput, current: PatientInput) -> PatientInput:
    return PatientInput(
        **{
            **{f: getattr(data, f) for f in (*SCALAR_FIELDS, *LIST_FIELDS)},
            "identifiers": current.identifiers,
        }
    )


def _restore_table(model: type[models.Model], rows: Rows, *, delete: models.Q) -> None:
    """Replace the rows `delete` selects with `rows` as they were (ids and timestamps too)."""
    model._default_manager.filter(delete).delete()
    objects = [model(**_python(model, row)) for row in rows]
    model._default_manager.bulk_create(objects)
    stamped = [
        f.attname
        for f in model._meta.concrete_fields
        if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False)
    ]
    if stamped:
        for row in rows:
            values = _python(model, {name: row[name] for name in stamped})
            model._default_manager.filter(pk=row["id"]).update(**values)


def _by_patient(rows: Rows, patient_id: UUID) -> Rows:
    return [row for row in rows if row["patient_id"] == str(patient_id)]


# Derived columns that follow another field (the birth year on names follows the birth date):
# a later edit of that field alone is not an edit of the list.
DERIVED = ("id", "birth_year")


def _strip(rows: Rows) -> Rows:
    return [{k: v for k, v in row.items() if k not in DERIVED} for row in rows]


def patients_unmerge_rows(
    *,
    survivor_id: UUID,
    subsumed_id: UUID,
    before: Snapshot,
    after: Snapshot,
    merge_id: UUID,
    copied_identifier_ids: list[int],
    enterprise_before: Mapping[str, str],
    enterprise_after: Mapping[str, str],
    actor_label: str,
    now: datetime,
) -> list[str]:
    """Put both records back as `before` had them; later edits of the survivor are kept.

    The subsumed record is restored row for row (it could not be edited while merged). On the
    survivor, each record field (a patient column or a child list) that still holds what the
    merge wrote goes back to its pre-merge value; a field edited since keeps the edit. The
    identifier copies the merge made are removed, links the merge created are dropped and links
    it re-pointed point back; enterprise ids the merge moved go back unless changed since.
    Versions go on increasing (a client's old ETag must not match again). Returns the survivor
    fields that kept a later edit.
    """
    patient_versions_retain([survivor_id, subsumed_id])
    label = _label(actor_label)
    current = _row(Patient.objects.get(id=survivor_id))
    survivor_before = next(r for r in before["patients"] if r["id"] == str(survivor_id))
    survivor_after = next(r for r in after["patients"] if r["id"] == str(survivor_id))
    kept: list[str] = []
    restore: dict[str, Any] = {}
    for column in (*SCALAR_FIELDS, "sort_name"):
        if current[column] == survivor_after[column]:
            restore[column] = survivor_before[column]
        elif column != "sort_name":
            kept.append(column)
    for key in LIST_FIELDS:
        model = CHILD_MODELS[key]
        now_rows = _rows(model, patient_id=survivor_id)
        if _strip(now_rows) == _strip(_by_patient(after[key], survivor_id)):
            _restore_table(
                model,
                _by_patient(before[key], survivor_id),
                delete=models.Q(patient_id=survivor_id),
            )
        else:
            kept.append(key)
    PatientIdentifier.objects.filter(id__in=copied_identifier_ids).delete()
    survivor_row = Patient.objects.get(id=survivor_id)
    Patient.objects.filter(id=survivor_id).update(
        **_python(Patient, restore),
        version=survivor_row.version + 1,
        updated_by=label,
        updated_at=now,
    )
    # Name rows carry the birth year as a matching key; keep it true whichever side won.
    survivor_row.refresh_from_db()
    PatientName.objects.filter(patient_id=survivor_id).exclude(
        birth_year=birth_year(survivor_row.birth_date)
    ).update(birth_year=birth_year(survivor_row.birth_date))

    subsumed_before = next(r for r in before["patients"] if r["id"] == str(subsumed_id))
    subsumed_row = Patient.objects.get(id=subsumed_id)
    values = _python(
        Patient, {k: v for k, v in subsumed_before.items() if k not in (*BOOKKEEPING, "id")}
    )
    values.pop("enterprise_id")
    Patient.objects.filter(id=subsumed_id).update(
        **values, version=subsumed_row.version + 1, updated_by=label, updated_at=now
    )
    for key in ("names", "identifiers", "telecoms", "addresses", "contacts"):
        model = CHILD_MODELS[key]
        _restore_table(
            model, _by_patient(before[key], subsumed_id), delete=models.Q(patient_id=subsumed_id)
        )

    PatientLink.objects.filter(merge_id=merge_id).delete()
    for row in before["links"]:
        PatientLink.objects.filter(id=row["id"]).update(other_id=row["other_id"])

    for patient_id, enterprise_id in enterprise_before.items():
        moved_to = enterprise_after.get(patient_id)
        if moved_to is not None and moved_to != enterprise_id:
            Patient.objects.filter(id=patient_id, enterprise_id=moved_to).update(
                enterprise_id=enterprise_id
            )
    return kept
