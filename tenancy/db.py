"""Tenant context: the one place that talks to PostgreSQL's `app.tenant_id` setting.

Row-level security policies compare every tenant-owned row with
`current_setting('app.tenant_id', true)`. `tenant_scope` opens a transaction and sets it with
`set_config(..., is_local => true)`, so it dies with the transaction: a pooled connection or a
reused worker process can never carry one tenant's context into the next piece of work.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

from tenancy.errors import TenantContextError
from tenancy.metrics import db_query_observe

_current_tenant: ContextVar[UUID | None] = ContextVar("current_tenant", default=None)
_SET_TENANT_SQL = "SELECT set_config('app.tenant_id', %s, true)"


@contextmanager
def tenant_scope(tenant_id: UUID) -> Iterator[None]:
    """Run the block in one transaction that PostgreSQL knows belongs to `tenant_id`.

    Nesting is allowed only for the same tenant: switching tenants inside a transaction would
    let rows read for one tenant be written under another.
    """
    if not isinstance(tenant_id, UUID):
        raise TenantContextError("tenant_scope needs a UUID")
    outer = _current_tenant.get()
    if outer is not None and outer != tenant_id:
        raise TenantContextError("A tenant scope cannot be nested inside another tenant's scope")
    enclosing_transaction = connection.in_atomic_block
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_SET_TENANT_SQL, [str(tenant_id)])
        token = _current_tenant.set(tenant_id)
        try:
            yield
        finally:
            _current_tenant.reset(token)
    if enclosing_transaction and outer is None:
        # The scope ran inside a caller's transaction (as a savepoint), which goes on after
        # this block: clear the setting so the rest of that transaction is tenant-less again.
        # (On an exception the savepoint rollback has already undone set_config.)
        with connection.cursor() as cursor:
            cursor.execute(_SET_TENANT_SQL, [""])


def current_tenant_id() -> UUID:
    """The tenant of the running scope; raises when code runs outside any scope."""
    tenant_id = _current_tenant.get()
    if tenant_id is None:
        raise TenantContextError("No tenant scope is active")
    return tenant_id


def current_tenant_id_or_none() -> UUID | None:
    """The tenant of the running scope, if any (for logging and request wiring)."""
    return _current_tenant.get()


def database_tenant_setting() -> str:
    """What PostgreSQL itself holds as the tenant of this connection ('' when none)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(current_setting('app.tenant_id', true), '')")
        row = cursor.fetchone()
    return str(row[0]) if row else ""


@contextmanager
def tenant_cursor() -> Iterator[CursorWrapper]:
    """A raw cursor for set-based work (COPY, INSERT … SELECT) inside the running tenant scope.

    Refuses to run outside a scope, so raw SQL gets the same RLS context as the ORM.
    """
    current_tenant_id()
    with connection.cursor() as cursor:
        yield cursor


def _timed_execute(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """Django execute wrapper: every statement's time goes to the DB-time histogram."""
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        db_query_observe(time.perf_counter() - started)


def time_queries(sender: object, connection: BaseDatabaseWrapper, **_: object) -> None:
    """`connection_created` receiver: time every statement of each new connection."""
    if _timed_execute not in connection.execute_wrappers:
        connection.execute_wrappers.append(_timed_execute)
