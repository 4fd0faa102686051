"""Identifier domains: tenant administrators define them; their rules then apply."""

import pytest
from django.test import Client

from registration.models import IdentifierDomain
from registration.services.domains import identifier_domain_save
from tenancy.db import tenant_scope
from tenancy.errors import NotFoundError, ValidationFailedError
from tenancy.models import AuditEvent, Role
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant():
    return make_tenant()


def test_save_validates_and_audits(tenant):
    with tenant_scope(tenant.id):
        domain = identifier_domain_save(
            actor=None,
            system="urn:oid:1.2.5",
            name="Clinic MRN",
            format_regex=r"\d{6}",
            check_digit="luhn",
        )
        changed = identifier_domain_save(
            actor=None, system="urn:oid:1.2.5", name="Clinic MRN v2", domain_id=domain.id
        )
        assert changed.id == domain.id
        assert IdentifierDomain.objects.get().name == "Clinic MRN v2"
        assert AuditEvent.objects.filter(action="identifier_domain.saved").count() == 2
        with pytest.raises(ValidationFailedError) as error:
            identifier_domain_save(
                actor=None,
                system="nope",
                name="",
                type_code="ZZ",
                format_regex="(",
                check_digit="x",
            )
        assert {e.field for e in error.value.errors} == {
            "system",
            "name",
            "type_code",
            "format_regex",
            "check_digit",
        }
        with pytest.raises(ValidationFailedError):
            identifier_domain_save(actor=None, system="urn:oid:1.2.5", name="again")
        with pytest.raises(NotFoundError):
            identifier_domain_save(actor=None, system="urn:oid:1.2.6", name="x", domain_id=999999)


def test_console_tenant_admin_creates_front_desk_reads(client: Client, tenant):
    client.force_login(make_user(tenant, Role.TENANT_ADMIN))
    response = client.post(
        "/admin/registration/identifierdomain/add/",
        {
            "system": "urn:oid:1.2.8",
            "name": "Lab id",
            "type_code": "MR",
            "format_regex": "",
            "check_digit": "none",
        },
    )
    assert response.status_code == 302
    bad = client.post(
        "/admin/registration/identifierdomain/add/",
        {
            "system": "bad",
            "name": "Lab id",
            "type_code": "",
            "format_regex": "(",
            "check_digit": "none",
        },
    )
    assert bad.status_code == 200
    assert "Not a valid regular expression." in bad.content.decode()
    with tenant_scope(tenant.id):
        assert IdentifierDomain.objects.count() == 1
    client.force_login(make_user(tenant, Role.FRONT_DESK))
    assert client.get("/admin/registration/identifierdomain/").status_code == 200
    assert client.get("/admin/registration/identifierdomain/add/").status_code == 403
    client.force_login(make_user(tenant, Role.AUDITOR))
    assert client.get("/admin/registration/identifierdomain/").status_code == 403
