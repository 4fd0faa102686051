"""Every given name folded on each name row, so that FHIR `given` matches any given name.

Existing rows are backfilled with the function the services use (search_keys.given_names_key),
so old and new rows agree. Expand-only: the column has a database default, so the previous
release's INSERTs (which do not name it) still work; its rows get the key on their next write
or from this backfill.
"""

import django.contrib.postgres.indexes
from django.db import migrations, models

BACKFILL_BATCH = 5000


def backfill_given_names(apps, schema_editor):
    """Derive the new column for names written before this migration (runs as the owner)."""
    from registration.services.search_keys import given_names_key

    connection = schema_editor.connection
    last_id = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT id, given FROM registration_patientname
                 WHERE id > %s ORDER BY id LIMIT %s
                """,
                [last_id, BACKFILL_BATCH],
            )
            rows = cursor.fetchall()
            if not rows:
                return
            cursor.executemany(
                "UPDATE registration_patientname SET given_names_folded = %s WHERE id = %s",
                [(given_names_key(given or []), name_id) for name_id, given in rows],
            )
            last_id = rows[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("registration", "0009_patient_versions"),
    ]

    operations = [
        migrations.AddField(
            model_name="patientname",
            name="given_names_folded",
            field=models.CharField(blank=True, db_default="", default="", max_length=520),
        ),
        migrations.RunPython(backfill_given_names, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="patientname",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass("given_names_folded", name="gin_trgm_ops"),
                name="name_givens_trgm_idx",
            ),
        ),
    ]
