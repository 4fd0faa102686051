"""Row-level security on every patient table."""

from django.db import migrations

from tenancy.rls import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("registration", "0001_initial")]

    operations = [
        EnableRowLevelSecurity(model)
        for model in (
            "Patient",
            "PatientName",
            "PatientIdentifier",
            "IdentifierDomain",
            "PatientTelecom",
            "PatientAddress",
            "PatientContact",
        )
    ]
