"""`manage.py outbox_schemas`: list, check or snapshot the event schemas."""

import json
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from outbox.compat import compatibility_problems, snapshot_problems
from outbox.registry import registry

DEFAULT_SNAPSHOTS = Path(settings.BASE_DIR) / "tests" / "contract" / "schema_snapshots"


class Command(BaseCommand):
    """Guard published schema versions: --check compares, --snapshot records."""

    help = "List event schemas; --check against snapshots; --snapshot records compatible ones."

    def add_arguments(self, parser: CommandParser) -> None:
        """--check / --snapshot, --dir."""
        parser.add_argument("--check", action="store_true")
        parser.add_argument("--snapshot", action="store_true")
        parser.add_argument("--dir", type=Path, default=DEFAULT_SNAPSHOTS)

    def handle(self, *args: Any, **options: Any) -> None:
        """Without flags: list the registry."""
        schemas = {key: schema.path for key, schema in registry().items()}
        directory: Path = options["dir"]
        if options["snapshot"]:
            directory.mkdir(parents=True, exist_ok=True)
            for (event_type, version), path in sorted(schemas.items()):
                target = directory / f"{event_type}.v{version}.json"
                if target.exists():
                    problems = compatibility_problems(
                        json.loads(target.read_text(encoding="utf-8")),
                        json.loads(path.read_text(encoding="utf-8")),
                    )
                    if problems:
                        raise CommandError(
                            f"{target.name} changed incompatibly; publish v{version + 1}: "
                            + "; ".join(problems)
                        )
                shutil.copyfile(path, target)
            self.stdout.write(f"snapshots written to {directory}")
            return
        if options["check"]:
            problems = snapshot_problems(directory, schemas)
            if problems:
                raise CommandError("\n".join(problems))
            self.stdout.write("schemas compatible with their snapshots")
            return
        for event_type, version in sorted(schemas):
            self.stdout.write(f"{event_type} v{version}")
