"""Celery tasks of the outbox and inbox: thin wrappers that call the services.

None of them is a TenantTask: the relay works across tenants through its own database role,
the inbox takes each message's tenant from the message itself, and the audit-chain anchor
opens one tenant scope per active tenant.
"""

import logging

import redis
from celery import shared_task
from django.conf import settings

from outbox.consumer import InboxStreamConsumer
from outbox.metrics import metrics_client
from outbox.services.audit_anchor import audit_chain_head_publish
from outbox.services.inbox import inbox_prune_all_tenants
from outbox.services.outbox import outbox_wake_relay, wake_key
from outbox.services.relay import outbox_metrics_refresh, outbox_prune, relay_drain, relay_linger
from tenancy.db import tenant_scope
from tenancy.models import Tenant
from tenancy.modules import CORE
from tenancy.tasks import PlatformTask

logger = logging.getLogger(__name__)

INBOX_TASK_TIME_BUDGET_SECONDS = 1.5


@shared_task(base=PlatformTask, name="outbox.relay_drain", ignore_result=True, required_module=CORE)
def relay_drain_task() -> dict[str, int]:
    """Drain the outbox while events keep coming (woken on commit; swept by beat).

    Lingers for `OUTBOX_RELAY_LINGER_SECONDS` of quiet, polling, so a steady stream of commits
    is served by one task; then clears the wake key and drains once more (see
    `outbox_wake_relay`). Re-queues itself when its time budget runs out with work left.
    """
    result = relay_linger(
        time_budget=settings.OUTBOX_RELAY_TIME_BUDGET_SECONDS,
        linger=settings.OUTBOX_RELAY_LINGER_SECONDS,
        poll=settings.OUTBOX_RELAY_POLL_SECONDS,
    )
    try:
        metrics_client().delete(wake_key())
    except redis.RedisError:
        logger.warning("outbox relay: wake-up key not cleared (it expires by itself)")
    if not result.bus_unavailable:
        result.add(relay_drain(time_budget=settings.OUTBOX_RELAY_TIME_BUDGET_SECONDS))
    if result.out_of_time and not result.bus_unavailable:
        outbox_wake_relay()
    return {"published": result.published, "failed": result.failed, "dead": result.dead}


@shared_task(
    base=PlatformTask, name="outbox.outbox_prune", ignore_result=True, required_module=CORE
)
def outbox_prune_task() -> int:
    """Delete published events past the retention period."""
    return outbox_prune()


@shared_task(
    base=PlatformTask, name="outbox.metrics_refresh", ignore_result=True, required_module=CORE
)
def metrics_refresh_task() -> int:
    """Trim the streams; returns how many events are pending."""
    return outbox_metrics_refresh().pending


@shared_task(
    base=PlatformTask, name="outbox.inbox_consume", ignore_result=True, required_module=CORE
)
def inbox_consume_task() -> int:
    """Read what the senders' streams hold now (beat runs this every few seconds)."""
    consumer = InboxStreamConsumer()
    try:
        return consumer.consume_until_idle(time_budget=INBOX_TASK_TIME_BUDGET_SECONDS).read
    finally:
        consumer.client.close()


@shared_task(base=PlatformTask, name="outbox.inbox_prune", ignore_result=True, required_module=CORE)
def inbox_prune_task() -> int:
    """Delete processed inbox rows past retention, tenant by tenant."""
    return inbox_prune_all_tenants()


@shared_task(
    base=PlatformTask, name="outbox.audit_chain_publish", ignore_result=True, required_module=CORE
)
def audit_chain_publish_task() -> int:
    """Announce every active tenant's moved audit chain head (`audit.chain-sealed`; beat)."""
    published = 0
    for tenant_id in Tenant.objects.filter(is_active=True).values_list("id", flat=True):
        with tenant_scope(tenant_id):
            published += audit_chain_head_publish() is not None
    return published
