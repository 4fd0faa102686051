"""Publishing each tenant's audit hash-chain head outside the database.

The chain (`tenancy.services.audit_chain`) detects a database administrator's edit of sealed
audit rows, unless that administrator also rewrites every later seal. An `audit.chain-sealed`
event carries the head (seq, sealed audit id, row hash) to the event bus, so a system the
administrator does not control keeps the anchor; `manage.py audit_verify --tenant T --head
SEQ:HASH` then checks the chain against it.
"""

from django.db import transaction

from outbox.models import OutboxEvent
from outbox.selectors.outbox import outbox_latest_payload
from outbox.services.outbox import outbox_enqueue
from tenancy.db import current_tenant_id
from tenancy.selectors.audit import audit_chain_head

EVENT_TYPE = "audit.chain-sealed"


def audit_chain_head_publish() -> OutboxEvent | None:
    """Announce the current tenant's chain head when it moved since the last announcement
    still in the outbox (once that row is pruned, an unchanged head is announced again:
    harmless, the anchor is the same). None when there is nothing new to announce."""
    with transaction.atomic():
        head = audit_chain_head()
        if head is None:
            return None
        last = outbox_latest_payload(event_type=EVENT_TYPE)
        if last is not None and last.get("seq") == head.seq:
            return None
        tenant_id = current_tenant_id()
        return outbox_enqueue(
            event_type=EVENT_TYPE,
            aggregate_type="audit",
            aggregate_id=tenant_id,
            payload={
                "seq": head.seq,
                "audit_event_id": head.audit_event_id,
                "row_hash": head.row_hash,
                "sealed_at": head.sealed_at.isoformat(),
            },
        )
