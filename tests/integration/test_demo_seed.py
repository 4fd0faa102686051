"""`make demo`'s seeding: a user per role, an API key, synthetic patients loaded once."""

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from registration.models import Patient
from tenancy.db import tenant_scope
from tenancy.models import Membership, Role, Tenant
from tenancy.services.credentials import api_key_authenticate

pytestmark = pytest.mark.django_db


def test_seed_creates_logins_key_and_patients_once():
    out = StringIO()
    call_command("demo_seed", slug="seedtest", patients=60, stdout=out)
    text = out.getvalue()
    tenant = Tenant.objects.get(slug="seedtest")
    with tenant_scope(tenant.id):
        assert {m.role for m in Membership.objects.all()} == set(Role.values)
        assert Patient.objects.count() == 60
    for role in Role:
        username = f"seedtest-{role.value.replace('_', '-')}"
        password = next(line.split()[-1] for line in text.splitlines() if username in line)
        assert User.objects.get(username=username).check_password(password)
    token = text.split("Api-Key ")[1].split()[0]
    principal = api_key_authenticate(token=token)
    assert principal is not None
    assert principal.tenant_id == tenant.id

    call_command("demo_seed", slug="seedtest", patients=60, stdout=StringIO())
    with tenant_scope(tenant.id):
        assert Patient.objects.count() == 60
