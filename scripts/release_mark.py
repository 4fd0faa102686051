"""Record what a release ships, for the expand/contract checks of the next ones.

Writes ops/release/last-release.json: the release name, every migration it contains (the
migration linter, scripts/lint_migrations.py, checks only newer ones) and, per model, the SQL
the release's ORM issues to read it and the columns it writes (the rollback test,
tests/integration/test_rollback_compat.py, runs those reads against the newest schema and
checks that its INSERTs still fit). Run it when a release is cut (docs/DEPLOYMENT.md), with
the released commit checked out.

Usage: python scripts/release_mark.py RELEASE   (Django settings from the environment; no database)
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

import django
from django.apps import apps
from django.db.migrations.loader import MigrationLoader

ROOT = Path(__file__).resolve().parent.parent
MARKER = ROOT / "ops" / "release" / "last-release.json"
PROJECT_APPS = ("tenancy", "outbox", "registration", "mpi")


def snapshot(release: str) -> dict[str, Any]:
    """Migrations and per-model read SQL / written columns of the code checked out now."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    migrations = {
        app: sorted(name for (label, name) in loader.disk_migrations if label == app)
        for app in PROJECT_APPS
    }
    models: dict[str, Any] = {}
    for app in PROJECT_APPS:
        for model in apps.get_app_config(app).get_models():
            meta = model._meta
            if not meta.managed or meta.proxy:
                continue
            sql, params = model._default_manager.all().query.sql_with_params()
            assert not params, f"{meta.label}: a plain read has no parameters"  # noqa: S101
            models[meta.label] = {
                "table": meta.db_table,
                "select": sql,
                "insert_columns": sorted(
                    f.column for f in meta.concrete_fields if f.column is not None
                ),
            }
    return {"release": release, "migrations": migrations, "models": models}


def main() -> int:
    """Write the marker for the release named on the command line."""
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    MARKER.parent.mkdir(parents=True, exist_ok=True)
    MARKER.write_text(json.dumps(snapshot(sys.argv[1]), indent=2, sort_keys=True) + "\n")
    print(f"wrote {MARKER.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
