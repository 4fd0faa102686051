"""The SLOs in ops/prometheus/slos.yml select the series the code really exposes.

Each journey's URLs are resolved by Django and labelled exactly as the metrics middleware labels
them (`tenancy.metrics.route_label`); the SLO's selectors, read as Prometheus would (anchored
regular expressions), must match every URL of its journey and no other URL listed here. A
renamed URL pattern, a route template that changes shape, or a selector typo fails here rather
than silently emptying an SLI. The latency bounds must be bucket bounds of the histogram,
spelled as prometheus_client prints them.
"""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.urls import resolve
from prometheus_client.utils import floatToGoString

from tenancy.metrics import HTTP_REQUEST_DURATION, LATENCY_BUCKETS, route_label

ROOT = Path(__file__).resolve().parents[3]
SLOS: list[dict[str, Any]] = yaml.safe_load((ROOT / "ops" / "prometheus" / "slos.yml").read_text())[
    "slos"
]
PATIENT = "/0b7e8d3e-1111-4222-8333-444455556666"

# (method, URL) of each journey: what its SLOs are meant to measure.
JOURNEYS: dict[str, set[tuple[str, str]]] = {
    "registration": {("POST", "/api/v1/patients"), ("POST", "/fhir/Patient")},
    "search": {
        ("GET", "/api/v1/patients"),
        ("GET", "/fhir/Patient"),
        ("POST", "/fhir/Patient/_search"),
    },
    "match": {("POST", "/api/v1/match"), ("POST", "/fhir/Patient/$match")},
}
# Neighbours no SLO may take in by accident.
OTHERS: set[tuple[str, str]] = {
    ("GET", f"/api/v1/patients{PATIENT}"),
    ("PATCH", f"/api/v1/patients{PATIENT}"),
    ("GET", f"/fhir/Patient{PATIENT}"),
    ("PUT", f"/fhir/Patient{PATIENT}"),
    ("GET", "/fhir/Patient/$ihe-pix"),
    ("POST", "/fhir/Patient/$ihe-pix"),
    ("POST", "/fhir/Patient/$no-such-operation"),
    ("GET", "/fhir/metadata"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
}
_MATCHER = re.compile(r'\s*(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def _unquote(value: str) -> str:
    """A PromQL double-quoted string's value (Go escapes: \\\\ and \\")."""
    return re.sub(r"\\(.)", r"\1", value)


def _matchers(selector: str) -> list[tuple[str, str, str]]:
    found = [(m[1], m[2], _unquote(m[3])) for m in _MATCHER.finditer(selector)]
    assert found, selector
    assert "".join(m[0] for m in _MATCHER.finditer(selector)).strip() == selector.strip(), selector
    return found


def _selects(selector: str, labels: dict[str, str]) -> bool:
    for name, op, value in _matchers(selector):
        actual = labels.get(name, "")
        hit = re.fullmatch(value, actual) is not None if "~" in op else actual == value
        if hit == op.startswith("!"):
            return False
    return True


def _labels(method: str, url: str) -> dict[str, str]:
    return {"route": route_label(resolve(url)), "method": method}


@pytest.mark.parametrize("slo", SLOS, ids=lambda slo: slo["name"])
def test_slo_selectors_match_exactly_their_journeys_urls(slo):
    expected = JOURNEYS[slo["journey"]]
    universe = set().union(*JOURNEYS.values()) | OTHERS
    selected = {
        (method, url)
        for method, url in universe
        if any(_selects(selector, _labels(method, url)) for selector in slo["selectors"])
    }
    assert selected == expected, {
        "missed": {(m, u, _labels(m, u)["route"]) for m, u in expected - selected},
        "extra": {(m, u, _labels(m, u)["route"]) for m, u in selected - expected},
    }


def test_the_match_operation_has_a_route_of_its_own():
    assert route_label(resolve("/fhir/Patient/$match")) == "fhir/Patient/$match"
    assert route_label(resolve("/fhir/Patient/$ihe-pix")) == "fhir/Patient/$ihe-pix"
    assert route_label(resolve("/api/v1/patients")) == "api/v1/patients"
    assert route_label(None) == "<unmatched>"


@pytest.mark.parametrize(
    "slo", [s for s in SLOS if s["kind"] == "latency"], ids=lambda slo: slo["name"]
)
def test_latency_bounds_are_bucket_bounds_spelled_as_exposed(slo):
    assert float(slo["le"]) in LATENCY_BUCKETS
    assert floatToGoString(float(slo["le"])) == slo["le"]
    assert list(HTTP_REQUEST_DURATION._upper_bounds[:-1]) == list(LATENCY_BUCKETS)
