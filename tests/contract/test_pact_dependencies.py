"""Consumer pacts for the services this one calls, exercised through the real clients.

Pact's mock server plays the licensing service and the civil registry; the pact files written
to `pacts/` are what those providers verify on their side.
"""

import uuid
from datetime import UTC, date, datetime

from pact import Pact, match

from outbox.clients.civil_registry import CivilRegistryClient, DeathRecord
from outbox.clients.licensing import EntitlementWindow, LicensingClient
from tests.contract.conftest import PACT_DIR

TENANT = uuid.UUID("a3c1f0de-7d1b-4c55-9f3e-2b6d8e4a1c01")
UNKNOWN = uuid.UUID("00000000-0000-4000-8000-000000000000")
RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
BEARER = match.regex("Bearer token-for-tests", regex=r"^Bearer \S+$")


def test_licensing_entitlement_lookup():
    pact = Pact("registration-service", "licensing-service")
    (
        pact.upon_receiving("a request for a tenant's entitlements")
        .given("tenant a3c1f0de has licensed mpi (open-ended) and fhir (until mid-year)")
        .with_request("GET", f"/v1/tenants/{TENANT}/entitlements")
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_body(
            {
                "tenant_id": match.uuid(str(TENANT)),
                "entitlements": [
                    {
                        "module": match.regex("mpi", regex=r"^[a-z][a-z0-9_]{0,63}$"),
                        "valid_from": match.regex("2026-01-01T00:00:00+00:00", regex=RFC3339),
                        "valid_until": None,
                    },
                    {
                        "module": match.regex("fhir", regex=r"^[a-z][a-z0-9_]{0,63}$"),
                        "valid_from": match.regex("2026-01-01T00:00:00+00:00", regex=RFC3339),
                        "valid_until": match.regex("2026-06-30T00:00:00+00:00", regex=RFC3339),
                    },
                ],
            },
            content_type="application/json",
        )
    )
    (
        pact.upon_receiving("a request for an unknown tenant's entitlements")
        .given("tenant 00000000 is unknown")
        .with_request("GET", f"/v1/tenants/{UNKNOWN}/entitlements")
        .with_header("Authorization", BEARER)
        .will_respond_with(404)
    )
    with pact.serve(addr="127.0.0.1") as server:
        client = LicensingClient(str(server.url), token="token-for-tests")
        assert client.entitlements(TENANT) == [
            EntitlementWindow("mpi", datetime(2026, 1, 1, tzinfo=UTC), None),
            EntitlementWindow(
                "fhir", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 30, tzinfo=UTC)
            ),
        ]
        assert client.entitlements(UNKNOWN) == []
    pact.write_file(PACT_DIR, overwrite=True)


def test_civil_registry_death_query():
    pact = Pact("registration-service", "civil-registry")
    identifier = {"system": "urn:oid:2.16.840.1.113883.4.1", "value": "000-00-0000"}
    (
        pact.upon_receiving("a death query for a registered death")
        .given("a death is registered for identifier 000-00-0000")
        .with_request("POST", "/v1/death-queries")
        .with_header("Authorization", BEARER)
        .with_body({"identifier": identifier}, content_type="application/json")
        .will_respond_with(200)
        .with_body(
            {
                "notification_id": match.str("CR-2026-000123"),
                "date_of_death": match.regex("2026-01-14", regex=r"^\d{4}-\d{2}-\d{2}$"),
            },
            content_type="application/json",
        )
    )
    (
        pact.upon_receiving("a death query for a person with no registered death")
        .given("no death is registered for identifier 000-00-0001")
        .with_request("POST", "/v1/death-queries")
        .with_header("Authorization", BEARER)
        .with_body(
            {"identifier": {"system": "urn:oid:2.16.840.1.113883.4.1", "value": "000-00-0001"}},
            content_type="application/json",
        )
        .will_respond_with(404)
    )
    with pact.serve(addr="127.0.0.1") as server:
        client = CivilRegistryClient(str(server.url), token="token-for-tests")
        system = "urn:oid:2.16.840.1.113883.4.1"
        assert client.death_query(system=system, value="000-00-0000") == DeathRecord(
            "CR-2026-000123", date(2026, 1, 14)
        )
        assert client.death_query(system=system, value="000-00-0001") is None
    pact.write_file(PACT_DIR, overwrite=True)
