"""The MPI's tables (model versions, name frequencies, steward decisions) under row-level
security, and `mpi_name_search`, the one view through which trigram candidate search reads
patient names (see docs/MATCHING.md, "Why a view")."""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from tenancy.rls import EnableRowLevelSecurity

TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"

# Owned by the migration role, which has BYPASSRLS, so the tables' policies do not apply
# through it and pg_trgm's `%` (not LEAKPROOF) can use the GIN indexes. The view applies the
# same tenant predicate as those policies itself, so it still shows nothing without a tenant
# and only the current tenant's rows with one. Not a security_barrier view on purpose: a
# barrier would again keep `%` from becoming an index condition. Read-only for the app role.
NAME_SEARCH_VIEW = f"""
CREATE VIEW mpi_name_search AS
SELECT n.patient_id, n.family_folded, n.given_folded, n.birth_year, p.birth_date
  FROM registration_patientname n
  JOIN registration_patient p ON p.id = n.patient_id
 WHERE n.tenant_id = {TENANT}
   AND p.tenant_id = {TENANT}
   AND p.active
"""


def view_forwards(apps, schema_editor):
    app = schema_editor.quote_name(settings.DB_APP_ROLE)
    schema_editor.execute(NAME_SEARCH_VIEW)
    schema_editor.execute("REVOKE ALL ON mpi_name_search FROM PUBLIC")
    schema_editor.execute(f"REVOKE ALL ON mpi_name_search FROM {app}")
    schema_editor.execute(f"GRANT SELECT ON mpi_name_search TO {app}")


def view_backwards(apps, schema_editor):
    schema_editor.execute("DROP VIEW IF EXISTS mpi_name_search")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('registration', '0003_matching_keys'),
        ('tenancy', '0002_security'),
    ]

    operations = [
        migrations.CreateModel(
            name='MatchDecision',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('decision', models.CharField(choices=[('duplicate', 'Same person'), ('not_duplicate', 'Different people')], max_length=16)),
                ('reason', models.CharField(blank=True, max_length=500)),
                ('decided_at', models.DateTimeField(auto_now_add=True)),
                ('decided_by', models.CharField(blank=True, max_length=64)),
                ('patient_high', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registration.patient')),
                ('patient_low', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registration.patient')),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenancy.tenant')),
            ],
            options={
                'indexes': [models.Index(fields=['tenant', 'patient_high'], name='mpi_decision_high_idx')],
                'constraints': [models.UniqueConstraint(fields=('tenant', 'patient_low', 'patient_high'), name='mpi_matchdecision_pair'), models.CheckConstraint(condition=models.Q(('patient_low__lt', models.F('patient_high'))), name='mpi_matchdecision_ordered')],
            },
        ),
        migrations.CreateModel(
            name='MatchModel',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('version', models.PositiveIntegerField()),
                ('parameters', models.JSONField()),
                ('training_metrics', models.JSONField(blank=True, default=dict)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('created_by', models.CharField(blank=True, max_length=64)),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenancy.tenant')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('tenant', 'version'), name='mpi_matchmodel_version')],
            },
        ),
        migrations.CreateModel(
            name='NameFrequency',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('field', models.CharField(choices=[('family', 'Family name'), ('given', 'Given name')], max_length=16)),
                ('value', models.CharField(blank=True, max_length=100)),
                ('patients', models.PositiveIntegerField()),
                ('refreshed_at', models.DateTimeField()),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenancy.tenant')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('tenant', 'field', 'value'), name='mpi_namefrequency_unique')],
            },
        ),
        EnableRowLevelSecurity("MatchDecision"),
        EnableRowLevelSecurity("MatchModel"),
        EnableRowLevelSecurity("NameFrequency"),
        migrations.RunPython(view_forwards, view_backwards),
    ]
