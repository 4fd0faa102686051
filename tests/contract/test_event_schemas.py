"""The event schemas as a published contract.

A published `<type>.v<N>.json` may change only compatibly (a produced event's schema may only
narrow, a consumed one's only widen); anything else needs a new version. The committed
snapshots in `schema_snapshots/` are the published texts: `manage.py outbox_schemas --snapshot`
records a compatible change or a new version, and refuses an incompatible one.
"""

import json
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from outbox.compat import snapshot_problems
from outbox.registry import registry

SNAPSHOTS = Path(__file__).resolve().parent / "schema_snapshots"


def current_schemas() -> dict[tuple[str, int], Path]:
    return {key: schema.path for key, schema in registry().items()}


def test_every_schema_is_compatible_with_its_published_snapshot():
    assert snapshot_problems(SNAPSHOTS, current_schemas()) == []


def test_the_schemas_are_published_in_the_docs():
    events_doc = (Path(settings.BASE_DIR) / "docs" / "EVENTS.md").read_text(encoding="utf-8")
    for event_type, version in registry():
        assert f"`{event_type}` v{version}" in events_doc, event_type


def test_the_command_checks_and_snapshots(tmp_path: Path, capsys):
    call_command("outbox_schemas")
    assert "patient.registered v1" in capsys.readouterr().out
    call_command("outbox_schemas", "--check", "--dir", str(SNAPSHOTS))
    copy = tmp_path / "snapshots"
    call_command("outbox_schemas", "--snapshot", "--dir", str(copy))
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in SNAPSHOTS.iterdir())
    call_command("outbox_schemas", "--snapshot", "--dir", str(copy))  # unchanged: fine again


def test_an_incompatible_edit_is_refused(tmp_path: Path):
    copy = tmp_path / "snapshots"
    shutil.copytree(SNAPSHOTS, copy)
    published = copy / "patient.registered.v1.json"
    narrower = json.loads(published.read_text())
    narrower["required"].append("channel")  # the published text promised less than we now send
    published.write_text(json.dumps(narrower))
    with pytest.raises(CommandError, match="no longer requires channel"):
        call_command("outbox_schemas", "--check", "--dir", str(copy))
    with pytest.raises(CommandError, match=r"changed incompatibly; publish v2"):
        call_command("outbox_schemas", "--snapshot", "--dir", str(copy))
