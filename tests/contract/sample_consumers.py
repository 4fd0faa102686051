"""Sample consumers of this service, as their teams would write them for their pact tests.

`FrontDeskClient` stands for the front-desk app's calls to the REST API; `data_platform_handle`
for a downstream system that consumes the patient events from the streams.
"""

import json
import urllib.error
import urllib.request
from typing import Any


class FrontDeskClient:
    """The calls the front-desk app makes (more join as the patient API lands)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key

    def _get(self, path: str, *, authenticated: bool = True) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if authenticated:
            headers["Authorization"] = f"Api-Key {self.api_key}"
        request = urllib.request.Request(f"{self.base_url}{path}", headers=headers)  # noqa: S310 - test URL
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - idem
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def is_alive(self) -> bool:
        """The liveness probe the app polls before it shows the registration desk."""
        status, body = self._get("/healthz", authenticated=False)
        return status == 200 and body["status"] == "ok"

    def recent_activity(self, limit: int) -> list[dict[str, Any]]:
        """The tenant's latest audit events (the desk's activity panel)."""
        status, body = self._get(f"/api/v1/audit-events?page_size={limit}")
        assert status == 200
        return [
            {"id": e["id"], "at": e["occurred_at"], "what": f"{e['action']} {e['object_type']}"}
            for e in body["results"]
        ]

    def activity(self, event_id: int) -> dict[str, Any] | None:
        """One audit event, or None when it does not exist (problem+json 404)."""
        status, body = self._get(f"/api/v1/audit-events/{event_id}")
        if status == 404:
            assert body["code"] == "not-found"
            return None
        return dict(body)


def data_platform_handle(body: str | bytes | None, metadata: dict[str, object]) -> dict[str, Any]:
    """What the data platform does with one event: read the envelope and the ids it keys on."""
    assert body is not None
    event = json.loads(str(body) if not isinstance(body, bytes) else body)
    assert event["specversion"] == "1.0"
    assert event["datacontenttype"] == "application/json"
    data = event["data"]
    assert data["tenant_id"] == event["tenantid"]
    keys = [k for k in data if k.endswith("_id")]
    return {"type": event["type"], "id": event["id"], "keys": sorted(keys), "metadata": metadata}
