"""`POST /api/v1/match`: a restricted candidate the caller may not open keeps its id,
probability and grade but shows no compared values (`masked: true`); through a break-glass grant
it is shown in full and the access is audited with the grant id."""

from typing import Any

import pytest
from django.test import Client

from tests.integration.restricted.conftest import audit_details, break_glass

pytestmark = pytest.mark.django_db
BODY = {
    "names": [{"family": "Okafor", "given": ["Adaeze", "Grace"]}],
    "birth_date": "1987-03-14",
    "gender": "female",
    "telecoms": [{"system": "phone", "value": "617-555-0142"}],
}


def match(client: Client, key: Any) -> dict[str, dict[str, Any]]:
    response = client.post(
        "/api/v1/match", BODY, content_type="application/json", headers=key.header
    )
    assert response.status_code == 200, response.content
    return {c["patient_id"]: c for c in response.json()["candidates"]}


def compared_values(candidate: dict[str, Any]) -> list[Any]:
    return [
        value
        for entry in candidate["explanation"]
        for value in (entry["query_value"], entry["candidate_value"], entry["term_frequency"])
        if value is not None
    ]


def test_a_restricted_candidate_is_masked_until_break_glass(client: Client, world):
    secret, normal, desk = world["secret"], world["normal"], world["desk"]
    candidates = match(client, desk)
    hidden, shown = candidates[str(secret.id)], candidates[str(normal.id)]
    assert hidden["masked"] is True
    assert hidden["grade"] == shown["grade"]
    assert hidden["probability"] > 0
    assert [e["field"] for e in hidden["explanation"]] == [e["field"] for e in shown["explanation"]]
    assert all(e["level"] for e in hidden["explanation"])
    assert compared_values(hidden) == []
    assert "okafor" not in str(hidden).lower()
    assert shown["masked"] is False
    assert compared_values(shown)
    assert audit_details(world["tenant"], "patient.match_shown", secret.id) == [{}]

    grant_id = break_glass(client, desk, secret.id)
    opened = match(client, desk)[str(secret.id)]
    assert opened["masked"] is False
    assert compared_values(opened)
    assert sorted(map(str, audit_details(world["tenant"], "patient.match_shown", secret.id))) == [
        str({"grant_id": grant_id, "break_glass": True}),
        "{}",
    ]
    # Another caller without a grant still sees it masked.
    assert match(client, world["integrator"])[str(secret.id)]["masked"] is True
