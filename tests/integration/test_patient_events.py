"""Patient services announce every change through the outbox, in the same transaction.

Every produced payload is checked against its versioned JSON Schema; a failed change leaves
no event behind.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from outbox.models import OutboxEvent
from outbox.registry import schema_errors
from registration.services.inputs import IdentifierInput
from registration.services.patients import (
    identifier_add,
    identifier_retire,
    patient_deactivate,
    patient_patch,
    patient_register,
)
from tenancy.db import tenant_scope
from tenancy.errors import ValidationFailedError
from tests.factories import make_tenant
from tests.patient_builders import patient_data

pytestmark = pytest.mark.django_db


def _events():
    return [(e.event_type, e.payload) for e in OutboxEvent.objects.order_by("id")]


def test_each_change_emits_its_schema_valid_event_in_order():
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        patient = patient_register(actor=None, data=patient_data())
        patient_patch(
            actor=None, patient_id=patient.id, expected_version=1, changes={"language": "es"}
        )
        added = identifier_add(
            actor=None,
            patient_id=patient.id,
            identifier=IdentifierInput(system="urn:oid:1.2.3.9", value="X1"),
        )
        identifier_retire(actor=None, patient_id=patient.id, identifier_id=added.id, reason="typo")
        patient_deactivate(
            actor=None, patient_id=patient.id, expected_version=4, reason="registered twice"
        )
        events = _events()
        shards = set(OutboxEvent.objects.values_list("shard_key", flat=True))
    assert [t for t, _ in events] == [
        "patient.registered",
        "patient.updated",
        "patient.identifier-added",
        "patient.updated",
        "patient.deactivated",
    ]
    assert [p["version"] for _, p in events] == [1, 2, 3, 4, 5]
    assert all(p["patient_id"] == str(patient.id) for _, p in events)
    assert events[1][1]["changed_fields"] == ["language"]
    assert events[2][1]["identifier_id"] == added.id
    assert len(shards) == 1  # one patient, one ordered shard
    for event_type, payload in events:
        assert schema_errors(event_type, 1, payload) == [], event_type
    # Ids and versions only: no names, dates of birth or identifier values in events.
    text = str(events)
    assert "Okafor" not in text
    assert "X1" not in text
    assert "1987" not in text


def test_a_refused_change_leaves_no_event():
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        with pytest.raises(ValidationFailedError):
            patient_register(
                actor=None, data=patient_data(birth_date=timezone.localdate() + timedelta(days=1))
            )
        assert _events() == []
