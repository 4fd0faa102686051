"""Every alert links a runbook that exists and is a real one; the rule renderings are current."""

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
RUNBOOKS = ROOT / "docs" / "runbooks"
SECTIONS = ("## Symptoms", "## Impact", "## Diagnosis", "## Mitigation", "## Escalation")


def _renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "render_prometheus_rules", ROOT / "scripts" / "render_prometheus_rules.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _groups() -> list[dict[str, Any]]:
    groups = []
    for name in ("slo-rules.yml", "alert-rules.yml"):
        groups += yaml.safe_load((ROOT / "ops" / "prometheus" / name).read_text())["groups"]
    return groups


def _alerting_rules() -> list[dict[str, Any]]:
    return [rule for group in _groups() for rule in group["rules"] if "alert" in rule]


ALERTS = _alerting_rules()


def test_there_are_alerts_for_every_required_area():
    names = {rule["alert"] for rule in ALERTS}
    for journey in ("Registration", "Search", "Match"):
        for kind in ("Availability", "Latency"):
            assert f"Regsvc{journey}{kind}BudgetBurn" in names
    assert {
        "RegsvcOutboxLagHigh",
        "RegsvcOutboxDeadEvents",
        "RegsvcInboxDeadMessages",
        "RegsvcNotReady",
    } <= names


@pytest.mark.parametrize("rule", ALERTS, ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_every_alert_has_a_runbook_that_exists(rule):
    url = rule["annotations"]["runbook_url"]
    match = re.fullmatch(r"https://\S+/docs/runbooks/(?P<file>[A-Za-z0-9_-]+\.md)", url)
    assert match, f"{rule['alert']}: runbook_url {url!r} does not point into docs/runbooks/"
    assert match["file"] == f"{rule['alert']}.md"
    runbook = RUNBOOKS / match["file"]
    assert runbook.is_file(), f"{rule['alert']}: {runbook.relative_to(ROOT)} is missing"
    text = runbook.read_text()
    assert text.startswith(f"# {rule['alert']}\n")
    for section in SECTIONS:
        assert section in text, f"{runbook.name} lacks {section!r}"
    assert len(text) > 800, f"{runbook.name} is a stub"
    assert rule["labels"]["severity"] in {"page", "ticket", "info"}
    assert rule["annotations"]["summary"]


def test_every_runbook_belongs_to_an_alert_or_a_procedure_and_is_indexed():
    names = {rule["alert"] for rule in ALERTS}
    index = (ROOT / "docs" / "RUNBOOKS.md").read_text()
    for runbook in RUNBOOKS.glob("*.md"):
        assert runbook.stem in names | {"rollback"}, f"{runbook.name}: no such alert"
        assert f"runbooks/{runbook.name}" in index, f"docs/RUNBOOKS.md does not list {runbook.name}"


def test_the_committed_renderings_are_current():
    renderer = _renderer()
    for path, text in renderer.render().items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is stale: re-render it"


def test_the_prometheusrule_carries_the_same_groups_as_the_rule_files():
    resource = yaml.safe_load(
        (ROOT / "k8s" / "base" / "monitoring" / "prometheusrule.yaml").read_text()
    )
    assert resource["kind"] == "PrometheusRule"
    assert resource["spec"] == {"groups": _groups()}


def test_a_latency_threshold_is_a_bucket_bound_of_the_histogram():
    """A latency SLO's `le` must be a bucket the service exports, spelled as prometheus_client
    prints it, or the SLI would silently count every request as slow."""
    from prometheus_client import Histogram

    bounds = {repr(float(b)) for b in Histogram.DEFAULT_BUCKETS}
    spec = yaml.safe_load((ROOT / "ops" / "prometheus" / "slos.yml").read_text())
    for slo in spec["slos"]:
        if slo["kind"] == "latency":
            assert slo["le"] in bounds, slo["name"]
