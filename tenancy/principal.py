"""Who is acting: a user through the console or an integration through an API key."""

from dataclasses import dataclass
from uuid import UUID

from tenancy.models import Role
from tenancy.request_context import current_request_id, set_request_id

__all__ = ["Principal", "current_request_id", "set_request_id"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller inside exactly one tenant, with the roles it holds there."""

    tenant_id: UUID
    roles: frozenset[str]
    user_id: int | None = None
    api_key_id: UUID | None = None

    def has_any_role(self, *roles: Role | str) -> bool:
        """True when the caller holds at least one of `roles` in its tenant."""
        return any(str(role) in self.roles for role in roles)

    @property
    def label(self) -> str:
        """A PHI-free name for logs and audit rows."""
        if self.api_key_id is not None:
            return f"api-key:{self.api_key_id}"
        return f"user:{self.user_id}"
