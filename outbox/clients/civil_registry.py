"""The civil registry's death query: confirm a death for a person identifier.

POST keeps the identifier (PHI) out of URLs and access logs. Used by the vital-status feature
to confirm a `civil-registry.death-notified` message before changing a patient.
"""

from dataclasses import dataclass
from datetime import date

from django.conf import settings

from outbox.clients.http import UpstreamUnavailableError, request_json


@dataclass(frozen=True, slots=True)
class DeathRecord:
    """A registered death: when, and the registry's notification id."""

    notification_id: str
    date_of_death: date


class CivilRegistryClient:
    """POST /v1/death-queries on the civil registry."""

    def __init__(self, base_url: str | None = None, *, token: str | None = None) -> None:
        self.base_url = (base_url or settings.CIVIL_REGISTRY_URL).rstrip("/")
        self.token = settings.CIVIL_REGISTRY_TOKEN if token is None else token

    def death_query(self, *, system: str, value: str) -> DeathRecord | None:
        """The registered death of the person with this identifier, or None if there is none."""
        reply = request_json(
            "POST",
            f"{self.base_url}/v1/death-queries",
            token=self.token,
            body={"identifier": {"system": system, "value": value}},
        )
        if reply.status == 404:
            return None
        if reply.status != 200 or not isinstance(reply.body, dict):
            raise UpstreamUnavailableError(f"civil registry answered {reply.status}.")
        return DeathRecord(
            notification_id=str(reply.body["notification_id"]),
            date_of_death=date.fromisoformat(reply.body["date_of_death"]),
        )
