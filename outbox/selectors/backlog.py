"""The outbox and inbox backlog across tenants, as counts only (for `/metrics`)."""

from dataclasses import dataclass

from django.db import connection


@dataclass(frozen=True, slots=True)
class EventBacklog:
    """How much event traffic is waiting or stuck, over all tenants."""

    pending: int
    lag_seconds: float
    outbox_dead: int
    inbox_dead: int


def event_backlog() -> EventBacklog:
    """Ask `outbox_event_backlog()` (SECURITY DEFINER, migration 0004): four numbers, no rows.

    Runs outside any tenant scope, as the app role: the function is the only way the app role
    sees past row-level security here, and it returns counts, never a tenant's data.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT outbox_pending, outbox_lag_seconds, outbox_dead, inbox_dead "
            "FROM outbox_event_backlog()"
        )
        row = cursor.fetchone()
    if row is None:  # pragma: no cover - an aggregate always returns one row
        return EventBacklog(0, 0.0, 0, 0)
    return EventBacklog(
        pending=int(row[0]),
        lag_seconds=float(row[1]),
        outbox_dead=int(row[2]),
        inbox_dead=int(row[3]),
    )
