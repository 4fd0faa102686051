"""The manifest checks of scripts/check_k8s.py pass on the base and catch each broken rule."""

import copy
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_k8s", ROOT / "scripts" / "check_k8s.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


check_k8s = _checker()


def _base() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((ROOT / "k8s" / "base" / "kustomization.yaml").read_text())
    resources = []
    for name in kustomization["resources"]:
        resources += [
            r for r in yaml.safe_load_all((ROOT / "k8s" / "base" / name).read_text()) if r
        ]
    # what `kubectl kustomize` adds: the common labels on every resource's metadata
    for resource in resources:
        for entry in kustomization["labels"]:
            resource["metadata"].setdefault("labels", {}).update(entry["pairs"])
    return resources


def _problems(resources):
    return [
        *check_k8s.check_rollout(resources),
        *check_k8s.check_workloads(resources),
        *check_k8s.check_secrets(resources),
        *check_k8s.check_wiring(resources),
    ]


def _find(resources, kind, name):
    return next(r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name)


def test_the_base_manifests_pass_every_check():
    assert _problems(_base()) == []


def _first_step_is_10_percent(resources):
    _find(resources, "Rollout", "regsvc-web")["spec"]["strategy"]["canary"]["steps"][0] = {
        "setWeight": 10
    }


def _first_pause_is_10_minutes(resources):
    steps = _find(resources, "Rollout", "regsvc-web")["spec"]["strategy"]["canary"]["steps"]
    steps[1] = {"pause": {"duration": "10m"}}


def _never_reaches_100(resources):
    steps = _find(resources, "Rollout", "regsvc-web")["spec"]["strategy"]["canary"]["steps"]
    steps[:] = [s for s in steps if s.get("setWeight") != 100]


def _no_analysis(resources):
    del _find(resources, "Rollout", "regsvc-web")["spec"]["strategy"]["canary"]["analysis"]


def _analysis_tolerates_failures(resources):
    _find(resources, "AnalysisTemplate", "regsvc-slo")["spec"]["metrics"][0]["failureLimit"] = 3


def _analysis_measures_all_pods(resources):
    metric = _find(resources, "AnalysisTemplate", "regsvc-slo")["spec"]["metrics"][0]
    metric["provider"]["prometheus"]["query"] = "sum(rate(http_request_duration_seconds_count[5m]))"


def _deployment_keeps_replicas(resources):
    _find(resources, "Deployment", "regsvc-web")["spec"]["replicas"] = 3


def _hpa_scales_the_deployment(resources):
    target = _find(resources, "HorizontalPodAutoscaler", "regsvc-web")["spec"]["scaleTargetRef"]
    target.update({"apiVersion": "apps/v1", "kind": "Deployment"})


def _writable_root(resources):
    pod = _find(resources, "Deployment", "regsvc-worker")["spec"]["template"]["spec"]
    pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False


def _root_user(resources):
    pod = _find(resources, "Deployment", "regsvc-relay")["spec"]["template"]["spec"]
    pod["securityContext"]["runAsNonRoot"] = False


def _no_limits(resources):
    pod = _find(resources, "Job", "regsvc-migrate")["spec"]["template"]["spec"]
    del pod["containers"][0]["resources"]["limits"]


def _no_startup_probe(resources):
    pod = _find(resources, "Deployment", "regsvc-beat")["spec"]["template"]["spec"]
    del pod["containers"][0]["startupProbe"]


def _readiness_on_healthz(resources):
    pod = _find(resources, "Deployment", "regsvc-web")["spec"]["template"]["spec"]
    pod["containers"][0]["readinessProbe"]["httpGet"]["path"] = "/healthz"


def _inlined_secret(resources):
    resources.append(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {"k": "dg=="}}
    )


def _kek_in_environment(resources):
    pod = _find(resources, "Deployment", "regsvc-web")["spec"]["template"]["spec"]
    pod["containers"][0]["envFrom"].append({"secretRef": {"name": "regsvc-portrait-kek"}})


def _kek_not_from_secret_manager(resources):
    resources.remove(_find(resources, "ExternalSecret", "regsvc-portrait-kek"))


def _migration_after_rollout(resources):
    del _find(resources, "Job", "regsvc-migrate")["metadata"]["annotations"]


def _no_default_deny(resources):
    resources.remove(_find(resources, "NetworkPolicy", "regsvc-default-deny"))


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (_first_step_is_10_percent, "steps/0/setWeight"),
        (_first_pause_is_10_minutes, "steps/1/pause/duration"),
        (_never_reaches_100, "does not contain"),
        (_no_analysis, "'analysis' is a required property"),
        (_analysis_tolerates_failures, "failureLimit"),
        (_analysis_measures_all_pods, "does not match"),
        (_deployment_keeps_replicas, "0 replicas"),
        (_hpa_scales_the_deployment, "HPA must scale the Rollout"),
        (_writable_root, "readOnlyRootFilesystem"),
        (_root_user, "runAsNonRoot"),
        (_no_limits, "resources.limits"),
        (_no_startup_probe, "startupProbe is missing"),
        (_readiness_on_healthz, "readiness /readyz"),
        (_inlined_secret, "is inlined"),
        (_kek_in_environment, "must not be env"),
        (_kek_not_from_secret_manager, "key-encryption key must come from an ExternalSecret"),
        (_migration_after_rollout, "PreSync"),
        (_no_default_deny, "default-deny"),
    ],
    ids=lambda value: getattr(value, "__name__", "")[1:],
)
def test_each_broken_rule_is_reported(breakage, message):
    resources = copy.deepcopy(_base())
    breakage(resources)
    problems = _problems(resources)
    assert any(message in p for p in problems), problems


def test_the_analysis_queries_are_written_with_their_arguments_filled_in():
    rules = check_k8s.analysis_rule_file(_base())["groups"][0]["rules"]
    assert [r["record"] for r in rules] == [
        "analysis:availability",
        "analysis:latency_p99",
        "analysis:readiness",
    ]
    assert all(
        "{{" not in r["expr"] and 'rollouts_pod_template_hash="abc123"' in r["expr"] for r in rules
    )
