"""The migration linter refuses contracting operations and lets expanding ones through."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from django.db import migrations, models
from django.db.migrations.loader import MigrationLoader

ROOT = Path(__file__).resolve().parents[3]


def _linter() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "lint_migrations", ROOT / "scripts" / "lint_migrations.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


lint_migrations = _linter()


@pytest.fixture(scope="module")
def state():
    """The project state at the newest registration migration (what a new migration builds on)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return loader.project_state()


def _problems(operation, state):
    return list(lint_migrations.operation_problems(operation, state, "registration"))


@pytest.mark.parametrize(
    "operation",
    [
        migrations.RemoveField("patient", "birth_date"),
        migrations.DeleteModel("PatientContact"),
        migrations.RenameField("patient", "birth_date", "born_on"),
        migrations.RenameModel("PatientContact", "NextOfKin"),
        migrations.AlterModelTable("patient", "patients"),
        migrations.AddField("patient", "ward", models.TextField(default="")),
        migrations.AlterField("patient", "birth_date", models.DateField()),
        migrations.RunSQL("ALTER TABLE registration_patient DROP COLUMN birth_date"),
        migrations.RunSQL(["ALTER TABLE registration_patient ALTER gender SET NOT NULL"]),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL("ALTER TABLE a RENAME TO b")]
        ),
    ],
    ids=lambda op: type(op).__name__,
)
def test_contracting_operations_are_refused(operation, state):
    assert _problems(operation, state)


@pytest.mark.parametrize(
    "operation",
    [
        migrations.AddField("patient", "ward", models.TextField(null=True)),
        migrations.AddField("patient", "triaged", models.BooleanField(db_default=False)),
        migrations.AlterField("patient", "birth_date", models.DateField(null=True, blank=True)),
        migrations.AddIndex("patient", models.Index(fields=["gender"], name="patient_gender_ix")),
        migrations.RunSQL("CREATE INDEX CONCURRENTLY x ON registration_patient (gender)"),
        migrations.CreateModel("Ward", [("id", models.BigAutoField(primary_key=True))]),
    ],
    ids=lambda op: type(op).__name__,
)
def test_expanding_operations_pass(operation, state):
    assert _problems(operation, state) == []


def test_a_not_null_change_names_the_field(state):
    problems = _problems(migrations.AlterField("patient", "birth_date", models.DateField()), state)
    assert problems == ["AlterField: makes patient.birth_date NOT NULL"]


def test_the_contract_phase_mark_needs_a_reason():
    assert lint_migrations.CONTRACT_MARK.search("# contract-phase: 0.3.0 no longer reads it\n")
    assert not lint_migrations.CONTRACT_MARK.search("# contract-phase:\n")
    assert not lint_migrations.CONTRACT_MARK.search("migrations.RemoveField('a', 'b')\n")


def test_the_migrations_since_the_last_release_are_expand_only():
    assert lint_migrations.lint(lint_migrations.released_migrations()) == []


def test_every_migration_on_disk_is_linted_unless_released():
    """Nothing slips past by not being listed: every migration the release did not ship is
    linted (here: a release that shipped only each app's first two migrations), and the linter
    finds the one real hazard in the history. 0003_matching_keys added
    NOT NULL phonetic columns with a Python-only default: pods of the release before it, still
    serving during that rollout, would have failed to insert patient names. It shipped before
    the first release marker, so it is not refused today."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    early = {key for key in loader.disk_migrations if key[1][:4] in {"0001", "0002"}}
    found = lint_migrations.lint(early)
    assert {
        "registration.0003_matching_keys: AddField: adds NOT NULL column"
        " patientname.family_phonetic without db_default",
        "registration.0003_matching_keys: AddField: adds NOT NULL column"
        " patientname.given_phonetic without db_default",
    } <= set(found)
    assert not [p for p in found if p.split(":")[0] in {"tenancy.0001_initial", "mpi.0001_initial"}]


def test_columns_of_a_table_created_after_the_release_are_not_hazards():
    """The running release never touches a table it does not know: a new table's NOT NULL
    columns and foreign keys (makemigrations adds those with AddField) are safe."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    everything = set(loader.disk_migrations)
    before_links = (
        everything
        - {("registration", "0005_merge_links")}
        - {key for key in everything if key[0] == "mpi" and key[1] >= "0004"}
    )
    assert ("registration", "patientlink") in lint_migrations.new_models(loader, before_links)
    assert ("registration", "patient") not in lint_migrations.new_models(loader, before_links)
    found = lint_migrations.lint(before_links)
    assert not [p for p in found if "patientlink." in p]
