"""The licensing service's entitlement lookup: the authority on which modules a tenant holds.

The `licensing.entitlement-changed` events keep ModuleEntitlement current; this lookup is for
reconciliation (`manage.py entitlements_sync`), e.g. after events were lost upstream.
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.conf import settings

from outbox.clients.http import UpstreamUnavailableError, request_json


@dataclass(frozen=True, slots=True)
class EntitlementWindow:
    """One licensed module for a time window (open-ended when `valid_until` is None)."""

    module: str
    valid_from: datetime
    valid_until: datetime | None


class LicensingClient:
    """GET /v1/tenants/{tenant_id}/entitlements on the licensing service."""

    def __init__(self, base_url: str | None = None, *, token: str | None = None) -> None:
        self.base_url = (base_url or settings.LICENSING_SERVICE_URL).rstrip("/")
        self.token = settings.LICENSING_SERVICE_TOKEN if token is None else token

    def entitlements(self, tenant_id: UUID) -> list[EntitlementWindow]:
        """The tenant's entitlement windows; [] when licensing does not know the tenant."""
        reply = request_json(
            "GET", f"{self.base_url}/v1/tenants/{tenant_id}/entitlements", token=self.token
        )
        if reply.status == 404:
            return []
        if reply.status != 200 or not isinstance(reply.body, dict):
            raise UpstreamUnavailableError(f"licensing answered {reply.status}.")
        return [
            EntitlementWindow(
                module=str(item["module"]),
                valid_from=datetime.fromisoformat(item["valid_from"]),
                valid_until=datetime.fromisoformat(item["valid_until"])
                if item.get("valid_until")
                else None,
            )
            for item in reply.body.get("entitlements", [])
        ]
