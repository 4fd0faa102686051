"""Module entitlements: every interface declares its module, and an unlicensed one is 403.

The walks below are the guard's guard: a new URL (REST, console, plain view) or Celery task
that declares no module, or a REST view of a licensable module whose permissions skip the
entitlement check, fails here before it can ship.
"""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery.exceptions import TimeoutError as CeleryTimeout
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from config.celery import app as celery_app
from mpi.tasks import name_frequencies_refresh_task
from tenancy.api.permissions import ModuleEntitled
from tenancy.db import tenant_scope
from tenancy.errors import (
    ModuleNotLicensedError,
    NotFoundError,
    PermissionDeniedError,
    ValidationFailedError,
)
from tenancy.models import AuditEvent, ModuleEntitlement, Role
from tenancy.modules import ALWAYS_ON, is_declarable, licensable_modules, requires_module
from tenancy.selectors.entitlements import entitlement_cache, module_entitled, require_module
from tenancy.services.entitlements import module_entitlement_end, module_entitlement_grant
from tenancy.tasks import tenant_usage_report
from tests.factories import make_api_key, make_tenant, make_user

PROBLEM = "application/problem+json"
ALL = tuple(licensable_modules())


def _without(*modules: str) -> tuple[str, ...]:
    return tuple(m for m in ALL if m not in modules)


# ---------------------------------------------------------------- the walks


def _patterns(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def declared_module(callback: Any) -> tuple[str | None, Any]:
    """The module a URL's view declares, and the DRF view class if it is one."""
    view: Any = callback
    while view is not None:
        view_class = getattr(view, "view_class", None) or getattr(view, "cls", None)
        for holder in (
            view,
            view_class,
            getattr(view, "model_admin", None),
            getattr(view, "admin_site", None),
            getattr(view, "__self__", None),
        ):
            module = getattr(holder, "required_module", None) if holder is not None else None
            if module:
                return module, view_class
        view = getattr(view, "__wrapped__", None)
    return None, None


ROUTES = list(_patterns(get_resolver()))


def test_the_walk_sees_api_console_and_plain_views():
    routes = {route for route, _ in ROUTES}
    assert "api/v1/patients" in routes
    assert "admin/registration/patient/" in routes
    assert "admin/" in routes  # the console's index (an admin-site page)
    assert "healthz" in routes
    assert len(routes) > 40


@pytest.mark.parametrize(("route", "callback"), ROUTES, ids=[r for r, _ in ROUTES])
def test_every_url_declares_a_module(route, callback):
    module, view_class = declared_module(callback)
    assert is_declarable(module), f"{route} declares no module (required_module)"
    if (
        view_class is not None
        and module not in ALWAYS_ON
        and hasattr(view_class, "permission_classes")
    ):
        guards = [p for p in view_class.permission_classes if issubclass(p, ModuleEntitled)]
        assert guards, f"{route}: a {module} REST view must check entitlements (ModuleEntitled)"


def _all_tasks() -> dict[str, Any]:
    celery_app.loader.import_default_modules()
    return {
        name: task
        for name, task in celery_app.tasks.items()
        # Celery's own housekeeping tasks and this suite's worker cleanup are not ours.
        if not name.startswith(("celery.", "tests."))
    }


TASKS = _all_tasks()


def test_the_walk_sees_the_tasks():
    assert {"mpi.name_frequencies_refresh", "outbox.relay_drain"} <= set(TASKS)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_declares_a_module(name):
    assert is_declarable(getattr(TASKS[name], "required_module", None)), (
        f"task {name} declares no module (required_module= decorator option)"
    )


def test_the_walk_would_catch_an_undeclared_view():
    def bare(request):  # pragma: no cover - never called
        raise AssertionError

    assert declared_module(bare) == (None, None)
    assert declared_module(requires_module("core")(bare))[0] == "core"
    with pytest.raises(ValueError, match="Unknown module"):
        requires_module("no-such-module")


def test_a_rest_view_without_a_module_is_refused():
    class Undeclared:
        pass

    with pytest.raises(PermissionDeniedError, match="declares no module"):
        ModuleEntitled().has_permission(None, Undeclared())  # type: ignore[arg-type]


# ---------------------------------------------------------------- the selector


@pytest.mark.django_db
def test_windows_and_cache_invalidation():
    tenant = make_tenant(modules=("registration",))
    with tenant_scope(tenant.id), entitlement_cache():
        assert module_entitled("registration")
        assert module_entitled("core")
        assert module_entitled("public")
        assert not module_entitled("mpi")
        with pytest.raises(ModuleNotLicensedError) as refused:
            require_module("mpi")
        assert refused.value.extensions() == {"module": "mpi"}
        # A grant and an end inside the same request are seen at once (cache cleared).
        module_entitlement_grant(actor=None, module="mpi")
        assert module_entitled("mpi")
        mpi = ModuleEntitlement.objects.get(module="mpi")
        module_entitlement_end(actor=None, entitlement_id=mpi.id)
        assert not module_entitled("mpi")
        # A window that starts later is not licensed yet.
        module_entitlement_grant(
            actor=None, module="fhir", valid_from=timezone.now() + timedelta(hours=1)
        )
        assert not module_entitled("fhir")
        assert (
            AuditEvent.objects.filter(
                action="entitlement.granted", object_type="module_entitlement"
            ).count()
            >= 2
        )


@pytest.mark.django_db
def test_entitlement_services_validate():
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        with pytest.raises(ValidationFailedError):
            module_entitlement_grant(actor=None, module="nope")
        now = timezone.now()
        with pytest.raises(ValidationFailedError):
            module_entitlement_grant(
                actor=None, module="mpi", valid_from=now, valid_until=now - timedelta(1)
            )
        with pytest.raises(NotFoundError):
            module_entitlement_end(actor=None, entitlement_id=tenant.id)
        window = ModuleEntitlement.objects.get(module="mpi")
        with pytest.raises(ValidationFailedError):
            module_entitlement_end(
                actor=None, entitlement_id=window.id, at=window.valid_from - timedelta(1)
            )


# ---------------------------------------------------------------- REST 403 per module


REST_PROBES = [
    ("registration", "get", "/api/v1/patients?family=x", None),
    ("registration", "get", "/api/v1/patients/00000000-0000-4000-8000-000000000001", None),
    ("mpi", "post", "/api/v1/match", {"names": [{"family": "Okafor"}]}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("module", "method", "url", "body"), REST_PROBES)
def test_rest_answers_403_naming_the_module(client: Client, module, method, url, body):
    tenant = make_tenant(modules=_without(module))
    key = make_api_key(tenant, Role.FRONT_DESK)
    call = getattr(client, method)
    kwargs: dict[str, Any] = {"headers": key.header}
    if body is not None:
        kwargs.update(data=body, content_type="application/json")
    response = call(url, **kwargs)
    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "module-not-licensed"
    assert problem["module"] == module
    assert set(problem) == {"type", "title", "status", "detail", "instance", "code", "module"}


@pytest.mark.django_db
def test_rest_licensed_again_works_and_expired_window_is_403_at_once(client: Client):
    tenant = make_tenant(modules=_without("registration"))
    key = make_api_key(tenant, Role.FRONT_DESK)
    with tenant_scope(tenant.id):
        window = module_entitlement_grant(actor=None, module="registration")
    assert client.get("/api/v1/patients?family=x", headers=key.header).status_code == 200
    with tenant_scope(tenant.id):
        module_entitlement_end(actor=None, entitlement_id=window.id)
    assert client.get("/api/v1/patients?family=x", headers=key.header).status_code == 403


@pytest.mark.django_db
def test_anonymous_is_401_not_a_module_answer(client: Client):
    response = client.get("/api/v1/patients")
    assert response.status_code == 401


@pytest.mark.django_db
def test_core_endpoints_need_no_licence(client: Client):
    tenant = make_tenant(modules=())
    key = make_api_key(tenant, Role.AUDITOR)
    assert client.get("/api/v1/audit-events", headers=key.header).status_code == 200


# ---------------------------------------------------------------- console 403 per module


@pytest.mark.django_db
def test_console_hides_and_refuses_an_unlicensed_module(client: Client):
    tenant = make_tenant(modules=_without("registration"))
    client.force_login(make_user(tenant, Role.FRONT_DESK, Role.TENANT_ADMIN))
    index = client.get("/admin/").content.decode()
    assert "/admin/registration/patient/" not in index
    assert "patient-search-landing" not in index
    for url in (
        "/admin/registration/patient/",
        "/admin/registration/patient/add/",
        "/admin/registration/identifierdomain/",
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "registration" in response.content.decode()
    # The kernel pages stay.
    assert client.get("/admin/tenancy/moduleentitlement/").status_code == 200


@pytest.mark.django_db
def test_console_shows_a_licensed_module(client: Client):
    tenant = make_tenant()
    client.force_login(make_user(tenant, Role.FRONT_DESK))
    assert "/admin/registration/patient/" in client.get("/admin/").content.decode()
    assert client.get("/admin/registration/patient/").status_code == 200


@pytest.mark.django_db
def test_tenant_admin_grants_and_ends_a_module_in_the_console(client: Client):
    tenant = make_tenant(modules=_without("mpi"))
    client.force_login(make_user(tenant, Role.TENANT_ADMIN))
    response = client.post(
        "/admin/tenancy/moduleentitlement/add/",
        {
            "module": "mpi",
            "valid_from_0": "",
            "valid_from_1": "",
            "valid_until_0": "",
            "valid_until_1": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_scope(tenant.id):
        window = ModuleEntitlement.objects.get(module="mpi")
        assert module_entitled("mpi")
    client.post(
        "/admin/tenancy/moduleentitlement/",
        {"action": "end_selected", "_selected_action": [str(window.id)]},
    )
    with tenant_scope(tenant.id):
        assert not module_entitled("mpi")
        assert AuditEvent.objects.filter(
            action="entitlement.changed", object_id=str(window.id)
        ).exists()


# ---------------------------------------------------------------- tasks


@pytest.mark.usefixtures("celery_worker")
def test_task_of_an_unlicensed_module_is_refused_by_the_worker():
    unlicensed = make_tenant(modules=_without("mpi"))
    licensed = make_tenant()
    refused = name_frequencies_refresh_task.apply_async(kwargs={"tenant_id": str(unlicensed.id)})
    with pytest.raises(Exception, match="not licensed the module 'mpi'") as failure:
        refused.get(timeout=30)
    assert not isinstance(failure.value, CeleryTimeout)
    assert (
        name_frequencies_refresh_task.apply_async(kwargs={"tenant_id": str(licensed.id)}).get(
            timeout=30
        )
        >= 0
    )
    with tenant_scope(unlicensed.id):
        audit = AuditEvent.objects.get(action="task.refused")
        assert audit.object_id == "mpi.name_frequencies_refresh"
        assert audit.details == {"module": "mpi", "reason": "module-not-licensed"}
    # A core task runs for a tenant with nothing licensed.
    bare = make_tenant(modules=())
    assert (
        tenant_usage_report.apply_async(kwargs={"tenant_id": str(bare.id)}).get(timeout=30)[
            "memberships"
        ]
        == 0
    )


@pytest.mark.django_db
def test_platform_command_grants_ends_and_lists(capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    tenant = make_tenant(modules=())
    call_command("module_entitlement", "--tenant", tenant.slug, "--grant", "mpi")
    with tenant_scope(tenant.id):
        assert module_entitled("mpi")
    call_command("module_entitlement", "--tenant", tenant.slug, "--end", "mpi")
    with tenant_scope(tenant.id):
        assert not module_entitled("mpi")
        assert AuditEvent.objects.filter(details__origin="platform-command").count() == 2
    capsys.readouterr()
    call_command("module_entitlement", "--tenant", tenant.slug, "--list")
    assert capsys.readouterr().out.startswith("mpi\t")
    with pytest.raises(CommandError, match=r"entitlement is invalid"):
        call_command("module_entitlement", "--tenant", tenant.slug, "--grant", "nope")
    with pytest.raises(CommandError, match="time zone"):
        call_command(
            "module_entitlement",
            "--tenant",
            tenant.slug,
            "--grant",
            "fhir",
            "--until",
            "2030-01-01",
        )
    with pytest.raises(CommandError, match="No such tenant"):
        call_command("module_entitlement", "--tenant", "missing", "--list")
