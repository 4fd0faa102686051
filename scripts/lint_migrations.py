"""Expand/contract discipline: migrations since the last release must not break the release's code.

During a rollout (and after a rollback) the previous release's pods run against the migrated
schema: the migration Job runs before the first canary pod starts, and a rollback never
un-migrates. So a migration newer than the last release (ops/release/last-release.json) may only
*expand* the schema. Refused unless the migration says it is a contract step:

- RemoveField, DeleteModel, RenameField, RenameModel, AlterModelTable (old code reads them);
- AlterField that makes a nullable column NOT NULL (old code inserts NULL or omits it);
- AddField of a NOT NULL column without a database default (`db_default`), since the old
  code's INSERTs do not name it (Django's `default` exists only in Python);
- RunSQL whose SQL drops, renames, or sets NOT NULL.

A contract step (dropping what a release no longer reads, once that release is everywhere) is
allowed by a comment line in the migration: `# contract-phase: <why the old code no longer needs
it>` (docs/DEPLOYMENT.md, "Migrations").

Usage: python scripts/lint_migrations.py   (Django settings from the environment; no database)
"""

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
from django.db.migrations.loader import MigrationLoader
from django.db.models import NOT_PROVIDED

ROOT = Path(__file__).resolve().parent.parent
MARKER = ROOT / "ops" / "release" / "last-release.json"
CONTRACT_MARK = re.compile(r"^\s*#\s*contract-phase:\s*\S+", re.MULTILINE)
DESTRUCTIVE_SQL = re.compile(
    r"\bDROP\s+(COLUMN|TABLE)\b|\bRENAME\b|\bSET\s+NOT\s+NULL\b", re.IGNORECASE
)
ALWAYS_DESTRUCTIVE = {
    "RemoveField": "removes a column the release reads",
    "DeleteModel": "drops a table the release reads",
    "RenameField": "renames a column the release reads",
    "RenameModel": "renames a table the release reads",
    "AlterModelTable": "renames a table the release reads",
}


def released_migrations() -> set[tuple[str, str]]:
    """(app, name) of every migration the last release shipped."""
    marker = json.loads(MARKER.read_text())
    return {(app, name) for app, names in marker["migrations"].items() for name in names}


def _field_problem(op: Any, before: Any, app_label: str) -> str | None:
    """Why an AddField/AlterField breaks old code's writes, or None."""
    name = type(op).__name__
    field = op.field
    if field.many_to_many or field.null:
        return None
    has_db_default = getattr(field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED
    if name == "AddField" and not has_db_default:
        return f"adds NOT NULL column {op.model_name}.{op.name} without db_default"
    if name == "AlterField":
        model = before.models.get((app_label, op.model_name_lower))
        old = model.fields.get(op.name) if model is not None else None
        if old is not None and old.null and not has_db_default:
            return f"makes {op.model_name}.{op.name} NOT NULL"
    return None


def _sql_text(sql: Any) -> str:
    if isinstance(sql, list | tuple):
        return " ".join(_sql_text(s) for s in sql)
    if isinstance(sql, str):
        return sql
    return ""


def operation_problems(operation: Any, before: Any, app_label: str) -> Iterator[str]:
    """Why one migration operation would break the previous release (nothing if it would not)."""
    name = type(operation).__name__
    if name in ALWAYS_DESTRUCTIVE:
        yield f"{name}: {ALWAYS_DESTRUCTIVE[name]}"
    elif name in {"AddField", "AlterField"}:
        problem = _field_problem(operation, before, app_label)
        if problem:
            yield f"{name}: {problem}"
    elif name == "RunSQL" and DESTRUCTIVE_SQL.search(_sql_text(operation.sql)):
        yield "RunSQL: drops, renames or sets NOT NULL"
    elif name == "SeparateDatabaseAndState":
        for inner in operation.database_operations:
            yield from operation_problems(inner, before, app_label)


def new_models(loader: Any, released: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """(app, model) of the tables created after the release: the running release never reads
    or writes them, so what is added to them (their foreign keys, NOT NULL columns) is safe."""
    created = set()
    for key, migration in loader.disk_migrations.items():
        if key in released:
            continue
        for operation in migration.operations:
            if type(operation).__name__ == "CreateModel":
                created.add((key[0], operation.name_lower))
    return created


def lint(released: set[tuple[str, str]]) -> list[str]:
    """Problems of every migration on disk that the last release did not ship."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    problems = []
    unreleased_tables = new_models(loader, released)
    for key in sorted(loader.disk_migrations):
        if key in released or key[0] not in _project_apps():
            continue
        migration = loader.disk_migrations[key]
        source = Path(sys.modules[type(migration).__module__].__file__ or "").read_text()
        if CONTRACT_MARK.search(source):
            continue
        state = loader.project_state(key, at_end=False)
        for operation in migration.operations:
            if (key[0], getattr(operation, "model_name_lower", "")) in unreleased_tables:
                continue  # a table the running release does not know
            problems += [
                f"{key[0]}.{key[1]}: {p}" for p in operation_problems(operation, state, key[0])
            ]
    return problems


def _project_apps() -> set[str]:
    marker = json.loads(MARKER.read_text())
    return set(marker["migrations"])


def main() -> int:
    """Lint, print every problem, exit 1 when there is one."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    problems = lint(released_migrations())
    for problem in problems:
        print(problem)
    if problems:
        print(
            "These migrations would break the release that is running during the rollout (and"
            " after a rollback). Expand instead (add nullable / db_default columns, copy data,"
            " keep the old column), or mark a deliberate contract step with a"
            " '# contract-phase: <reason>' comment (docs/DEPLOYMENT.md)."
        )
        return 1
    print("migrations since the last release are expand-only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
