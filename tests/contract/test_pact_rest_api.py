"""The REST API as its consumers use it: a sample consumer's pact, verified against the app.

Consumer side: the front-desk app's client states the calls it makes and what it relies on in
the answers (written to `pacts/front-desk-app-registration-service.json`). Provider side: Pact
replays those calls against the real app — middleware, API-key authentication, row-level
security, DRF, problem+json — served on a loopback port, with provider states built through
the services.
"""

import uuid

from django.db import connections
from pact import Pact, Verifier, match

from tenancy.db import tenant_scope
from tenancy.models import Role
from tenancy.services.audit import audit_record
from tests.contract.conftest import PACT_DIR, close_pact_helpers
from tests.contract.sample_consumers import FrontDeskClient
from tests.factories import make_api_key, make_tenant

CONSUMER, PROVIDER = "front-desk-app", "registration-service"
PACT_FILE = PACT_DIR / f"{CONSUMER}-{PROVIDER}.json"
RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
API_KEY = match.regex(
    "Api-Key rsk_0123456789ab_example-secret",  # pragma: allowlist secret
    regex=r"^Api-Key rsk_[A-Za-z0-9]+_\S+$",
)


def test_the_front_desk_client_against_its_pact():
    pact = Pact(CONSUMER, PROVIDER)
    (
        pact.upon_receiving("a liveness probe")
        .with_request("GET", "/healthz")
        .will_respond_with(200)
        .with_body({"status": "ok"}, content_type="application/json")
    )
    (
        pact.upon_receiving("a request for the tenant's recent activity")
        .given("the tenant has audit events")
        .with_request("GET", "/api/v1/audit-events")
        .with_query_parameter("page_size", "2")
        .with_header("Authorization", API_KEY)
        .will_respond_with(200)
        .with_body(
            {
                "results": match.each_like(
                    {
                        "id": match.int(41),
                        "occurred_at": match.regex("2026-01-15T09:30:00.123456Z", regex=RFC3339),
                        "action": match.str("probe.created"),
                        "object_type": match.str("probe"),
                    },
                    min=1,
                )
            },
            content_type="application/json",
        )
    )
    (
        pact.upon_receiving("a request for activity that does not exist")
        .with_request("GET", "/api/v1/audit-events/987654321")
        .with_header("Authorization", API_KEY)
        .will_respond_with(404)
        .with_header("Content-Type", "application/problem+json")
        .with_body({"status": 404, "code": "not-found", "title": match.str("Not found")})
    )
    with pact.serve(addr="127.0.0.1") as server:
        client = FrontDeskClient(str(server.url), api_key="rsk_0123456789ab_example-secret")
        assert client.is_alive()
        [entry] = client.recent_activity(limit=2)
        assert entry["what"] == "probe.created probe"
        assert client.activity(987654321) is None
    pact.write_file(PACT_DIR, overwrite=True)


def test_the_api_honours_the_front_desk_pact(live_server_url):
    tenant = make_tenant()
    key = make_api_key(tenant, Role.AUDITOR)

    def tenant_has_audit_events() -> None:
        try:
            with tenant_scope(tenant.id):
                for _ in range(3):
                    audit_record(
                        actor=None,
                        action="probe.created",
                        object_type="probe",
                        object_id=str(uuid.uuid4()),
                    )
        finally:
            connections.close_all()  # this runs in Pact's state-change thread

    verifier = (
        Verifier(PROVIDER, host="127.0.0.1")
        .add_transport(url=live_server_url)
        .add_source(PACT_FILE)
        .state_handler({"the tenant has audit events": tenant_has_audit_events})
        .add_custom_header("Authorization", f"Api-Key {key.token}")
        .set_coloured_output(enabled=False)
    )
    try:
        verifier.verify()
    except RuntimeError as exc:  # pragma: no cover - shown only when the contract breaks
        raise AssertionError(verifier.output(strip_ansi=True)) from exc
    finally:
        close_pact_helpers(verifier)
