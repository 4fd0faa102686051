"""Shared set-up of the restricted-patient tests beyond the patient endpoints: a tenant with a
restricted patient and a normal look-alike, keys of each role, and break-glass helpers."""

import os
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from registration.models import PatientAccessGrant
from registration.services.patients import patient_register
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent, Role
from tests.factories import make_api_key, make_tenant
from tests.patient_builders import patient_data

PROBLEM = "application/problem+json"
REASON = {"reason_category": "emergency", "reason": "Unconscious in the emergency room"}


@pytest.fixture
def world(db) -> dict[str, Any]:
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        secret = patient_register(actor=None, data=patient_data(confidentiality="restricted"))
        normal = patient_register(
            actor=None,
            data=patient_data(names=patient_data().names),
            duplicate_override_reason="a different person",
        )
    return {
        "tenant": tenant,
        "secret": secret,
        "normal": normal,
        "desk": make_api_key(tenant, Role.FRONT_DESK),
        "steward": make_api_key(tenant, Role.DATA_STEWARD),
        "integrator": make_api_key(tenant, Role.INTEGRATOR),
    }


def break_glass(client: Client, key: Any, patient_id: Any) -> str:
    """Open `patient_id` for `key` through the REST break-glass; the grant id."""
    opened = client.post(
        f"/api/v1/patients/{patient_id}/break-glass",
        data=REASON,
        content_type="application/json",
        headers=key.header,
    )
    assert opened.status_code == 201, opened.content
    grant_id: str = opened.json()["id"]
    return grant_id


def expire(grant_id: Any, tenant: Any) -> None:
    """Move a grant's end into the past (the database clock decides)."""
    with tenant_scope(tenant.id):
        PatientAccessGrant.objects.filter(id=grant_id).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )


def assert_restricted(response: Any, *secrets: str) -> None:
    """403 problem+json `restricted-patient` with the break-glass hint, and no PHI."""
    assert response.status_code == 403, response.content
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "restricted-patient"
    assert problem["break_glass_available"] is True
    for secret in secrets:
        assert secret not in response.content.decode()


def audit_details(tenant: Any, action: str, patient_id: Any) -> list[dict[str, Any]]:
    with tenant_scope(tenant.id):
        return [
            row.details
            for row in AuditEvent.objects.filter(action=action, object_id=str(patient_id))
        ]


@pytest.fixture
def portrait_keys(settings: Any) -> None:
    """Two random key-encryption keys for the portrait store."""
    settings.PORTRAIT_KEYS = {"k1": os.urandom(32), "k2": os.urandom(32)}
    settings.PORTRAIT_ACTIVE_KEY_ID = "k1"
