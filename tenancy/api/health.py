"""Liveness and readiness probes: cheap, unauthenticated, outside any tenant."""

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from tenancy.metrics import readiness_set
from tenancy.modules import PUBLIC, requires_module

_migrations_known_applied = False


@requires_module(PUBLIC)
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches nothing, so a slow database never kills pods."""
    return JsonResponse({"status": "ok"})


def _database_check() -> str | None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
    if row is None or row[0]:
        return "connected with a role that bypasses row-level security"
    return None


def _migrations_check() -> str | None:
    """Unapplied migrations make a pod unready; a positive answer is kept (deploys restart)."""
    global _migrations_known_applied  # noqa: PLW0603 - process-wide cache of a stable fact
    if _migrations_known_applied:
        return None
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return "unapplied migrations"
    _migrations_known_applied = True
    return None


def _redis_check() -> str | None:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return None


@requires_module(PUBLIC)
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the app role reaches PostgreSQL, Redis answers, migrations are applied."""
    checks: dict[str, str] = {}
    for name, check in (
        ("database", _database_check),
        ("migrations", _migrations_check),
        ("redis", _redis_check),
    ):
        try:
            problem = check()
        except Exception as exc:  # noqa: BLE001 - any failure of a dependency means "not ready"
            problem = type(exc).__name__
        checks[name] = problem or "ok"
    ready = all(value == "ok" for value in checks.values())
    readiness_set(ready)
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
