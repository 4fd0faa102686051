"""Writing the audit trail."""

from collections.abc import Iterable
from typing import Any

from tenancy.db import current_tenant_id
from tenancy.models import AuditEvent
from tenancy.principal import Principal, current_request_id


def audit_record(
    *,
    actor: Principal | None,
    action: str,
    object_type: str,
    object_id: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit row in the caller's transaction, so it exists iff the change does.

    `details` must hold identifiers and field names only, never PHI values.
    """
    return AuditEvent.objects.create(
        tenant_id=current_tenant_id(),
        actor_user_id=actor.user_id if actor else None,
        actor_api_key_id=actor.api_key_id if actor else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        request_id=current_request_id(),
        details=details or {},
    )


def audit_records(
    *,
    actor: Principal | None,
    action: str,
    object_type: str,
    entries: Iterable[tuple[str, dict[str, Any]]],
) -> int:
    """Append one audit row per (object id, details) entry in one statement; how many.

    For services acting on many objects at once (a batch chunk's links); same rules as
    `audit_record`: the caller's transaction, identifiers and field names only.
    """
    tenant_id, request_id = current_tenant_id(), current_request_id()
    rows = [
        AuditEvent(
            tenant_id=tenant_id,
            actor_user_id=actor.user_id if actor else None,
            actor_api_key_id=actor.api_key_id if actor else None,
            action=action,
            object_type=object_type,
            object_id=object_id,
            request_id=request_id,
            details=details,
        )
        for object_id, details in entries
    ]
    AuditEvent.objects.bulk_create(rows)
    return len(rows)
