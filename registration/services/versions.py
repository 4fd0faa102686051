"""Retaining superseded versions of patient records (FHIR vread and history).

Every service that bumps a patient's version calls `patient_versions_retain` first, under the
patient's row lock and in the same transaction as the change, before it writes anything: the
record as it is then is the version being superseded. The current version is always the live
record, so a patient never changed (and a bulk-loaded one) has no stored version, and a record
that existed before versions were kept keeps its history from its first later change on.
"""

from collections.abc import Iterable
from uuid import UUID

from django.db import models
from django.utils import timezone

from registration.models import (
    PatientAddress,
    PatientContact,
    PatientIdentifier,
    PatientLink,
    PatientName,
    PatientTelecom,
)
from tenancy.db import tenant_cursor

# Child rows kept with each version, by the key they are kept under (the Patient's related
# names, so that a reader can put them back as prefetched children).
VERSION_CHILDREN: dict[str, type[models.Model]] = {
    "names": PatientName,
    "identifiers": PatientIdentifier,
    "telecoms": PatientTelecom,
    "addresses": PatientAddress,
    "contacts": PatientContact,
    "links": PatientLink,
}
# Portrait columns kept (whether one existed and its type; never the image or its keys).
PORTRAIT_COLUMNS = ("id", "patient_id", "content_type")


# One statement keeps the versions of any number of patients: each row becomes JSON in the
# database (`to_jsonb`: every column, dates and times in ISO 8601), children in render order.
# The keys are VERSION_CHILDREN's and "portraits" (only PORTRAIT_COLUMNS, never the image).
RETAIN_SQL = """
    INSERT INTO registration_patientversion
           (tenant_id, patient_id, version, superseded_at, record)
    SELECT p.tenant_id, p.id, p.version, %(now)s, jsonb_build_object(
             'patient', to_jsonb(p),
             'names', (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.position, c.id), '[]')
                         FROM registration_patientname c WHERE c.patient_id = p.id),
             'identifiers', (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.retired_at, c.id),
                                             '[]')
                               FROM registration_patientidentifier c WHERE c.patient_id = p.id),
             'telecoms', (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.id), '[]')
                            FROM registration_patienttelecom c WHERE c.patient_id = p.id),
             'addresses', (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.id), '[]')
                             FROM registration_patientaddress c WHERE c.patient_id = p.id),
             'contacts', (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.id), '[]')
                            FROM registration_patientcontact c WHERE c.patient_id = p.id),
             'links', (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.id), '[]')
                         FROM registration_patientlink c WHERE c.patient_id = p.id),
             'portraits', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                    'id', c.id, 'patient_id', c.patient_id,
                                    'content_type', c.content_type) ORDER BY c.id), '[]')
                             FROM registration_portrait c WHERE c.patient_id = p.id))
      FROM registration_patient p
     WHERE p.id = ANY(%(ids)s)
    ON CONFLICT (tenant_id, patient_id, version) DO NOTHING
"""


def patient_versions_retain(patient_ids: Iterable[UUID]) -> None:
    """Keep the current version of each patient, about to be superseded (locked by the caller).

    One statement for all the patients: each row becomes JSON in the database (`to_jsonb`, so
    every column, dates and times in ISO 8601). A version already kept is left as it is (a
    retried change keeps the first copy).
    """
    ids = sorted(set(patient_ids))
    if not ids:
        return
    with tenant_cursor() as cursor:
        cursor.execute(RETAIN_SQL, {"now": timezone.now(), "ids": ids})
