"""The per-tenant hash chain over the audit trail: seal new rows, verify the chain.

Rows are sealed after the fact, in id order, once they are older than a horizon
(`AUDIT_SEAL_HORIZON_SECONDS`), by the `tenancy.audit_seal` task / `manage.py audit_seal` —
not at insert time, which would serialize every tenant's writes on one lock. Each seal stores
`sha256(previous seal's hash + the row's canonical content)`. `audit_verify` recomputes the
chain: a row changed or deleted after sealing (by a database administrator who disabled the
append-only trigger), a broken or gapped chain, and a row that appeared below the sealed head
without a seal are all reported, by id only.

An administrator able to rewrite the audit table can also rewrite the seals; the chain head
(`AuditSeal.row_hash` of the latest seq) is therefore published outside the database
(`audit.chain-sealed` events, `outbox.services.audit_anchor`), and `audit_verify(head=…)`
checks the chain against a published head.
"""

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Now

from tenancy.db import current_tenant_id, tenant_cursor
from tenancy.models import AuditEvent, AuditSeal

GENESIS = "0" * 64
CONTENT_FIELDS = (
    "id",
    "occurred_at",
    "actor_user_id",
    "actor_api_key_id",
    "action",
    "object_type",
    "object_id",
    "request_id",
    "details",
)
SEAL_BATCH = 5000


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, (int, str, bool, float, dict, list)):
        return value
    return str(value)


def audit_row_hash(prev_hash: str, tenant_id: object, row: dict[str, Any]) -> str:
    """sha256 over the previous hash and the row's content (canonical JSON)."""
    content = {"tenant_id": str(tenant_id), **{k: _canonical(row[k]) for k in CONTENT_FIELDS}}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()


def audit_seal(*, horizon: timedelta | None = None, batch: int = SEAL_BATCH) -> int:
    """Seal the current tenant's unsealed audit rows older than the horizon; count them."""
    horizon = timedelta(seconds=settings.AUDIT_SEAL_HORIZON_SECONDS) if horizon is None else horizon
    tenant_id = current_tenant_id()
    with transaction.atomic():
        with tenant_cursor() as cursor:  # one sealer per tenant at a time
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"audit-seal:{tenant_id}"]
            )
        head = AuditSeal.objects.order_by("-seq").first()
        seq, prev = (head.seq, head.row_hash) if head else (0, GENESIS)
        rows = (
            AuditEvent.objects.filter(
                id__gt=head.audit_event_id if head else 0, occurred_at__lt=Now() - horizon
            )
            .order_by("id")
            .values(*CONTENT_FIELDS)[:batch]
        )
        seals = []
        for row in rows:
            seq += 1
            row_hash = audit_row_hash(prev, tenant_id, row)
            seals.append(
                AuditSeal(
                    tenant_id=tenant_id,
                    seq=seq,
                    audit_event_id=row["id"],
                    prev_hash=prev,
                    row_hash=row_hash,
                )
            )
            prev = row_hash
        AuditSeal.objects.bulk_create(seals)
    return len(seals)


def _events_by_id(ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    return {
        row["id"]: row
        for row in AuditEvent.objects.filter(id__in=list(ids)).values(*CONTENT_FIELDS)
    }


def audit_verify(
    *, chunk: int = SEAL_BATCH, head: tuple[int, str] | None = None
) -> tuple[int, list[str]]:
    """Recompute the current tenant's chain: (rows verified, problems found by id).

    `head` = (seq, row_hash) published earlier (`audit.chain-sealed`): the seal of that seq
    must still exist with that hash, which catches a rewrite of rows and every later seal.
    """
    tenant_id = current_tenant_id()
    problems: list[str] = []
    expected_seq, prev, verified, head_event = 1, GENESIS, 0, 0
    sealed_ids: set[int] = set()
    seals = AuditSeal.objects.order_by("seq").values_list(
        "seq", "audit_event_id", "prev_hash", "row_hash"
    )
    batch: list[tuple[int, int, str, str]] = []
    for seal in seals.iterator(chunk_size=chunk):
        batch.append(seal)
        if len(batch) >= chunk:
            expected_seq, prev, verified = _verify_batch(
                batch,
                tenant_id=tenant_id,
                expected_seq=expected_seq,
                prev=prev,
                verified=verified,
                problems=problems,
            )
            batch = []
        sealed_ids.add(seal[1])
        head_event = max(head_event, seal[1])
    _, _, verified = _verify_batch(
        batch,
        tenant_id=tenant_id,
        expected_seq=expected_seq,
        prev=prev,
        verified=verified,
        problems=problems,
    )
    unsealed = (
        AuditEvent.objects.filter(id__lt=head_event)
        .exclude(id__in=sealed_ids)
        .values_list("id", flat=True)
        .order_by("id")
    )
    problems.extend(f"audit event {event_id} is not sealed" for event_id in unsealed)
    if head is not None:
        problems.extend(_head_problems(*head))
    return verified, problems


def _head_problems(seq: int, row_hash: str) -> list[str]:
    found = AuditSeal.objects.filter(seq=seq).values_list("row_hash", flat=True).first()
    if found is None:
        return [f"seal {seq} of the published head is missing"]
    if found != row_hash.lower():
        return [f"seal {seq} differs from the published head (chain rewritten)"]
    return []


def _verify_batch(
    batch: list[tuple[int, int, str, str]],
    *,
    tenant_id: object,
    expected_seq: int,
    prev: str,
    verified: int,
    problems: list[str],
) -> tuple[int, str, int]:
    events = _events_by_id(event_id for _, event_id, _, _ in batch)
    for seq, event_id, prev_hash, row_hash in batch:
        if seq != expected_seq:
            problems.append(f"seal {seq}: expected seq {expected_seq} (seals missing)")
        if prev_hash != prev:
            problems.append(f"seal {seq}: chain broken (previous hash differs)")
        row = events.get(event_id)
        if row is None:
            problems.append(f"audit event {event_id} was deleted")
        elif audit_row_hash(prev_hash, tenant_id, row) != row_hash:
            problems.append(f"audit event {event_id} was altered")
        else:
            verified += 1
        expected_seq, prev = seq + 1, row_hash
    return expected_seq, prev, verified
