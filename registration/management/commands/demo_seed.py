"""Seed the demo tenant: one console user per role, an integrator API key, and a few hundred
synthetic patients with some true duplicates (loaded once).

Run by `make demo`. Passwords are generated on every run and printed once (never stored in the
repository); the API key likewise.
"""

import secrets
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandParser

from registration.models import Patient
from registration.services.bulk import patients_bulk_load
from registration.services.synthetic import synthetic_to_input
from registration.synthetic import generate
from tenancy.db import tenant_scope
from tenancy.models import Role, Tenant
from tenancy.services.credentials import api_key_create
from tenancy.services.tenants import membership_grant, tenant_create

DEMO_SLUG = "demo"
DEMO_PATIENTS = 400


class Command(BaseCommand):
    """Create (or refresh) the demo tenant and its users."""

    help = "Seed the demo tenant with a user per role and an integrator API key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--slug", default=DEMO_SLUG)
        parser.add_argument("--patients", type=int, default=DEMO_PATIENTS)

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["slug"]
        tenant = Tenant.objects.filter(slug=slug).first() or tenant_create(
            slug=slug, name="Demo Health System"
        )
        logins: list[tuple[str, str, str]] = []
        with tenant_scope(tenant.id):
            for role in Role:
                username = f"{slug}-{role.value.replace('_', '-')}"
                password = secrets.token_urlsafe(9)
                user = User.objects.filter(username=username).first()
                if user is None:
                    user = User.objects.create_user(username=username, is_staff=True)
                user.set_password(password)
                user.save(update_fields=["password"])
                membership_grant(actor=None, user=user, role=role)
                logins.append((role.label, username, password))
            issued = api_key_create(actor=None, name="demo integration", role=Role.INTEGRATOR)
            has_patients = Patient.objects.exists()
        if not has_patients and options["patients"] > 0:
            people = generate(options["patients"], seed=7, duplicate_rate=0.12, tenant_label=slug)
            report = patients_bulk_load(
                tenant_id=tenant.id, actor=None, records=(synthetic_to_input(p) for p in people)
            )
            self.stdout.write(f"Loaded {report.loaded} synthetic patients (about 12% duplicates).")
        self.stdout.write(f"Tenant: {tenant.name} ({tenant.slug})")
        for label, username, password in logins:
            self.stdout.write(f"  {label:<22} {username:<24} {password}")
        self.stdout.write(f"  Integrator API key     Authorization: Api-Key {issued.token}")
