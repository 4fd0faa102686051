"""Rebuilding a tenant's name frequencies (the term-frequency table of online matching)."""

from django.db import transaction
from django.utils import timezone

from mpi.models import NameFrequency
from tenancy.db import current_tenant_id, tenant_cursor
from tenancy.principal import Principal
from tenancy.services.audit import audit_record

# One statement per field: the active patients carrying each name key (folded, spaces
# removed, as `name_key` forms it), plus the row with an empty value holding the number of
# active patients, the denominator. A patient with a maiden and a married name counts for
# both; a name used twice by one patient counts once.
_REFRESH_SQL = """
INSERT INTO mpi_namefrequency (tenant_id, field, value, patients, refreshed_at)
SELECT %(tenant)s, %(field)s, k.value, count(DISTINCT k.patient_id), %(now)s
  FROM (SELECT n.patient_id, replace(n.{column}, ' ', '') AS value
          FROM registration_patientname n
          JOIN registration_patient p ON p.id = n.patient_id
         WHERE p.active AND n.{column} <> '') AS k
 GROUP BY k.value
UNION ALL
SELECT %(tenant)s, %(field)s, '', count(*), %(now)s FROM registration_patient p WHERE p.active
"""
_COLUMNS = {NameFrequency.FAMILY: "family_folded", NameFrequency.GIVEN: "given_folded"}


def name_frequencies_refresh(*, actor: Principal | None) -> int:
    """Recount every name of the current tenant's active patients; return how many rows.

    Replaces the tenant's table in one transaction, so matching sees the old counts or the
    new, never a mixture. A full recount (about a second per million names) rather than
    per-write upkeep keeps registration as cheap as it was; frequencies drift slowly.
    """
    tenant_id = current_tenant_id()
    now = timezone.now()
    with transaction.atomic():
        NameFrequency.objects.all().delete()
        with tenant_cursor() as cursor:
            for field_name, column in _COLUMNS.items():
                cursor.execute(
                    _REFRESH_SQL.format(column=column),
                    {"tenant": tenant_id, "field": field_name, "now": now},
                )
        rows = NameFrequency.objects.count()
        audit_record(
            actor=actor,
            action="mpi.name_frequencies_refreshed",
            object_type="tenant",
            object_id=str(tenant_id),
            details={"rows": rows},
        )
    return rows
