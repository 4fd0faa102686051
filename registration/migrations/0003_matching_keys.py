"""Matching keys on patient names: phonetic keys and the birth year, for MPI candidate blocking,
and partial trigram indexes per birth-year bucket for the matcher's similar-names search.

Existing rows are backfilled with the same functions the services use (registration's
search_keys, which call the MPI's pure normalisation), so old and new rows agree.
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import migrations, models
from django.db.models.functions import Lower

# Frozen copy of registration.models.patient.TRIGRAM_BIRTH_YEAR_BUCKETS as of this migration.
BUCKETS = ((0, 1920), *((year, year + 10) for year in range(1920, 2020, 10)), (2020, 10000))

BACKFILL_BATCH = 5000


def backfill_keys(apps, schema_editor):
    """Derive the new columns for names written before this migration (runs as the owner)."""
    from registration.services.search_keys import phonetic_key

    connection = schema_editor.connection
    last_id = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT n.id, n.family, coalesce(n.given[1], ''), extract(year FROM p.birth_date)
                  FROM registration_patientname n
                  JOIN registration_patient p ON p.id = n.patient_id
                 WHERE n.id > %s
                 ORDER BY n.id
                 LIMIT %s
                """,
                [last_id, BACKFILL_BATCH],
            )
            rows = cursor.fetchall()
            if not rows:
                return
            cursor.executemany(
                """
                UPDATE registration_patientname
                   SET family_phonetic = %s, given_phonetic = %s, birth_year = %s
                 WHERE id = %s
                """,
                [
                    (
                        phonetic_key(family),
                        phonetic_key(given),
                        None if year is None else int(year),
                        name_id,
                    )
                    for name_id, family, given, year in rows
                ],
            )
            last_id = rows[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("registration", "0002_rls"),
        ("tenancy", "0002_security"),
    ]

    operations = [
        migrations.AddField(
            model_name="patientname",
            name="birth_year",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="patientname",
            name="family_phonetic",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="patientname",
            name="given_phonetic",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.RunPython(backfill_keys, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="patientname",
            index=models.Index(
                fields=["tenant", "family_phonetic", "birth_year"], name="name_phonetic_year_idx"
            ),
        ),
        *(
            migrations.AddIndex(
                model_name="patientname",
                index=GinIndex(
                    OpClass(Lower("family_folded"), name="gin_trgm_ops"),
                    OpClass(Lower("given_folded"), name="gin_trgm_ops"),
                    condition=condition,
                    name=f"name_trgm_{suffix}",
                ),
            )
            for suffix, condition in (
                *((low, models.Q(birth_year__gte=low, birth_year__lt=high)) for low, high in BUCKETS),
                ("noyear", models.Q(birth_year__isnull=True)),
            )
        ),
    ]
