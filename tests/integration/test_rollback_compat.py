"""Rollback safety (expand/contract): the last release's code still works on the newest schema.

During a canary and after a rollback, pods of the previous release run against a database that
the new release's migrations already changed (the migration Job runs before the rollout and a
rollback never un-migrates). ops/release/last-release.json records, for every model of that
release, the SQL its ORM issues to read the model and the columns its INSERTs name
(scripts/release_mark.py). This test migrates to the newest schema (the session's test
database), then runs the release's reads verbatim and checks that every column its INSERTs
leave out may be left out.
"""

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKER = json.loads((ROOT / "ops" / "release" / "last-release.json").read_text())


def _incompatibilities(conn: psycopg.Connection[Any]) -> list[str]:
    """What in the current schema would break the previous release's reads or writes."""
    problems = []
    for label, model in sorted(MARKER["models"].items()):
        try:
            with conn.transaction():
                # the release's own SQL, from the committed marker (no outside input)
                query = f"SELECT * FROM ({model['select']}) AS previous_release LIMIT 0"  # noqa: S608
                conn.execute(query)
        except psycopg.Error as exc:
            problems.append(f"{label}: the release's read fails: {exc.diag.message_primary}")
        required = conn.execute(
            """
            SELECT column_name FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name = %s AND is_nullable = 'NO'
               AND column_default IS NULL AND is_identity = 'NO' AND is_generated = 'NEVER'
            """,
            [model["table"]],
        ).fetchall()
        missing = sorted({row[0] for row in required} - set(model["insert_columns"]))
        if missing:
            problems.append(f"{label}: the release's INSERTs omit NOT NULL columns {missing}")
    return problems


@pytest.mark.django_db
def test_the_previous_releases_reads_and_writes_fit_the_newest_schema(owner_connection):
    assert MARKER["models"], "the release marker lists no models"
    assert _incompatibilities(owner_connection) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            "ALTER TABLE registration_patient RENAME COLUMN birth_date TO born_on",
            "registration.Patient: the release's read fails",
        ),
        ("ALTER TABLE outbox_outboxevent DROP COLUMN headers", "outbox.OutboxEvent: the release"),
        (
            "ALTER TABLE registration_patient ADD COLUMN ward text NOT NULL",
            "registration.Patient: the release's INSERTs omit NOT NULL columns ['ward']",
        ),
        ("ALTER TABLE tenancy_apikey RENAME TO tenancy_credential", "tenancy.ApiKey: the release"),
    ],
)
def test_a_contracting_change_is_caught(owner_connection, change, expected):
    with owner_connection.transaction(force_rollback=True):
        owner_connection.execute(change)
        problems = _incompatibilities(owner_connection)
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.django_db
def test_an_expanding_change_is_accepted(owner_connection):
    with owner_connection.transaction(force_rollback=True):
        owner_connection.execute("ALTER TABLE registration_patient ADD COLUMN ward text")
        owner_connection.execute(
            "ALTER TABLE registration_patient ADD COLUMN triaged boolean NOT NULL DEFAULT false"
        )
        assert _incompatibilities(owner_connection) == []
