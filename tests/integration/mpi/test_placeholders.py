"""A tenant's own placeholders extend the built-in list: never evidence, never blocking."""

from datetime import date

import pytest
from django.test import Client

from mpi.matching.record import DEFAULT_PLACEHOLDER_POLICY
from mpi.models import PlaceholderField, PlaceholderValue
from mpi.selectors.placeholders import tenant_placeholder_policy
from mpi.services.matching import match_patient, placeholder_policy
from mpi.services.placeholders import placeholder_value_add, placeholder_value_remove
from tenancy.db import tenant_scope
from tenancy.errors import ConflictError, NotFoundError, ValidationFailedError
from tenancy.models import AuditEvent, Role
from tests.factories import make_tenant, make_user
from tests.integration.mpi.conftest import person, register

pytestmark = pytest.mark.django_db
CLINIC = "617-555-0100"


def test_tenant_values_extend_the_built_in_list(scope):
    assert placeholder_policy() == DEFAULT_PLACEHOLDER_POLICY
    row = placeholder_value_add(actor=None, field=PlaceholderField.PHONE, value=f" {CLINIC} ")
    assert row.value == CLINIC
    policy = placeholder_policy()
    assert policy.is_placeholder("phone", CLINIC)
    assert policy.is_placeholder("phone", "(617) 555 0100")
    assert policy.is_placeholder("name", "UNKNOWN")  # built-ins stay
    assert tenant_placeholder_policy() is policy  # cached
    event = AuditEvent.objects.get(action="mpi.placeholder_added")
    assert event.details == {"field": "phone"}
    placeholder_value_remove(actor=None, placeholder_id=row.id)
    assert not placeholder_policy().is_placeholder("phone", CLINIC)
    assert AuditEvent.objects.filter(action="mpi.placeholder_removed").count() == 1


def test_refusals(scope):
    placeholder_value_add(actor=None, field=PlaceholderField.NAME, value="Patient X")
    with pytest.raises(ConflictError):
        placeholder_value_add(actor=None, field=PlaceholderField.NAME, value="Patient X")
    with pytest.raises(ValidationFailedError):
        placeholder_value_add(actor=None, field=PlaceholderField.NAME, value="  ")
    with pytest.raises(NotFoundError):
        placeholder_value_remove(actor=None, placeholder_id=scope.id)


def test_each_tenant_has_its_own(tenant):
    other = make_tenant()
    with tenant_scope(tenant.id):
        placeholder_value_add(actor=None, field=PlaceholderField.PHONE, value=CLINIC)
    with tenant_scope(other.id):
        assert not placeholder_policy().is_placeholder("phone", CLINIC)
        assert PlaceholderValue.objects.count() == 0


def test_a_shared_clinic_phone_neither_blocks_nor_counts(scope):
    stranger = register(person("Okafor", "Chidi", date(1970, 1, 2), phone=CLINIC))
    query = person("Nguyen", "Linh", date(1991, 5, 6), phone=CLINIC)
    found = match_patient(query, include_certainly_not=True).candidates
    assert [c.patient_id for c in found] == [stranger.id]
    assert any(e.field == "phone" and e.weight > 0 for e in found[0].explanation)
    placeholder_value_add(actor=None, field=PlaceholderField.PHONE, value=CLINIC)
    assert match_patient(query, include_certainly_not=True).candidates == ()


def test_console_tenant_admin_adds_and_removes_steward_reads(client: Client, tenant):
    client.force_login(make_user(tenant, Role.TENANT_ADMIN))
    url = "/admin/mpi/placeholdervalue/"
    assert client.post(f"{url}add/", {"field": "phone", "value": CLINIC}).status_code == 302
    again = client.post(f"{url}add/", {"field": "phone", "value": CLINIC})
    assert "already declared" in again.content.decode()
    with tenant_scope(tenant.id):
        row = PlaceholderValue.objects.get()
    assert client.get(f"{url}{row.pk}/change/").status_code in {200, 403}
    removed = client.post(f"{url}{row.pk}/delete/", {"post": "yes"})
    assert removed.status_code == 302
    with tenant_scope(tenant.id):
        assert PlaceholderValue.objects.count() == 0
        placeholder_value_add(actor=None, field=PlaceholderField.NAME, value="Test Test")
        row = PlaceholderValue.objects.get()
    bulk = client.post(
        url, {"action": "delete_selected", "_selected_action": [str(row.pk)], "post": "yes"}
    )
    assert bulk.status_code == 302
    with tenant_scope(tenant.id):
        assert PlaceholderValue.objects.count() == 0
    client.force_login(make_user(tenant, Role.DATA_STEWARD))
    assert client.get(url).status_code == 200
    assert client.get(f"{url}add/").status_code == 403
    client.force_login(make_user(tenant, Role.FRONT_DESK))
    assert client.get(url).status_code == 403
