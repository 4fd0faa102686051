"""The console's audit viewer: filters (user, patient, action, time, break-glass), streamed CSV
export of exactly the filtered rows, and no way to add, change or delete a row."""

import csv
import io
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from registration.services.access import break_glass_open
from registration.services.patients import patient_access_log, patient_register
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent, Role
from tenancy.services.audit import audit_record
from tests.factories import make_api_key, make_tenant, make_user, principal_for
from tests.patient_builders import patient_data

pytestmark = pytest.mark.django_db
BASE = "/admin/tenancy/auditevent/"


@pytest.fixture
def world() -> dict[str, Any]:
    tenant, other = make_tenant(), make_tenant()
    desk = make_user(tenant, Role.FRONT_DESK)
    auditor = make_user(tenant, Role.AUDITOR)
    with tenant_scope(tenant.id):
        secret = patient_register(actor=None, data=patient_data(confidentiality="restricted"))
        me = principal_for(desk, tenant, Role.FRONT_DESK)
        grant = break_glass_open(
            actor=me, patient_id=secret.id, reason_category="emergency", reason_text="a" * 15
        )
        patient_access_log(
            actor=me,
            patient_ids=[secret.id],
            details={secret.id: {"grant_id": str(grant.id), "break_glass": True}},
        )
        audit_record(actor=None, action="probe.other", object_type="probe", object_id="1")
    with tenant_scope(other.id):
        audit_record(actor=None, action="probe.foreign", object_type="probe", object_id="2")
    return {"tenant": tenant, "desk": desk, "auditor": auditor, "secret": secret, "grant": grant}


def _ids(response: Any) -> set[int]:
    return {event.id for event in response.context["cl"].result_list}


def _rows(tenant: Any, **filters: Any) -> set[int]:
    with tenant_scope(tenant.id):
        return set(AuditEvent.objects.filter(**filters).values_list("id", flat=True))


class TestViewer:
    def test_filters(self, client: Client, world):
        tenant, desk = world["tenant"], world["desk"]
        client.force_login(world["auditor"])
        everything = client.get(BASE)
        assert everything.status_code == 200
        assert _ids(everything) == _rows(tenant)
        assert "probe.foreign" not in everything.content.decode()
        assert _ids(client.get(f"{BASE}?actor={desk.pk}")) == _rows(tenant, actor_user_id=desk.pk)
        assert _ids(client.get(f"{BASE}?action=probe.other")) == _rows(tenant, action="probe.other")
        glass = _ids(client.get(f"{BASE}?break_glass=yes"))
        assert glass == _rows(tenant, details__break_glass=True)
        assert len(glass) == 2  # the opening and the read under the grant
        assert _ids(client.get(f"{BASE}?break_glass=no")).isdisjoint(glass)
        patient = str(world["secret"].id)
        assert _ids(client.get(f"{BASE}?object_id={patient}")) == _rows(tenant, object_id=patient)
        assert _ids(client.get(f"{BASE}?q={patient}")) == _rows(tenant, object_id=patient)
        future = (timezone.now() + timedelta(hours=1)).isoformat()
        after = urlencode({"occurred_at__gte": future})
        before = urlencode({"occurred_at__lt": future})
        assert _ids(client.get(f"{BASE}?{after}")) == set()
        assert _ids(client.get(f"{BASE}?{before}")) == _rows(tenant)

    def test_csv_export_streams_the_filtered_rows(self, client: Client, world):
        tenant = world["tenant"]
        client.force_login(world["auditor"])
        page = client.get(f"{BASE}?break_glass=yes").content.decode()
        assert 'id="audit-export"' in page
        response = client.get(f"{BASE}export/?break_glass=yes")
        assert response.status_code == 200
        assert response.streaming
        assert response["Content-Type"].startswith("text/csv")
        body = b"".join(response.streaming_content)  # type: ignore[attr-defined]  # streamed
        lines = list(csv.reader(io.StringIO(body.decode())))
        assert lines[0][:3] == ["id", "occurred_at", "action"]
        assert {int(line[0]) for line in lines[1:]} == _rows(tenant, details__break_glass=True)
        assert all('"break_glass": true' in line[-1] for line in lines[1:])
        with tenant_scope(tenant.id):
            exported = AuditEvent.objects.get(action="audit.exported")
            assert exported.details == {"filters": ["break_glass"]}
            assert exported.actor_user_id == world["auditor"].pk

    def test_nobody_adds_changes_or_deletes(self, client: Client, world):
        tenant = world["tenant"]
        client.force_login(make_user(tenant, Role.AUDITOR, Role.TENANT_ADMIN))
        with tenant_scope(tenant.id):
            row = AuditEvent.objects.filter(action="probe.other").get()
        detail = client.get(f"{BASE}{row.id}/change/")
        assert detail.status_code == 200
        assert 'name="_save"' not in detail.content.decode()
        assert client.post(f"{BASE}{row.id}/change/", {"action": "forged"}).status_code == 403
        assert client.get(f"{BASE}{row.id}/delete/").status_code == 403
        assert client.get(f"{BASE}add/").status_code == 403
        with tenant_scope(tenant.id):
            assert AuditEvent.objects.get(id=row.id).action == "probe.other"

    def test_other_roles_see_no_audit(self, client: Client, world):
        client.force_login(world["desk"])
        assert client.get(BASE).status_code == 403
        assert client.get(f"{BASE}export/").status_code == 403


def test_rest_filters(client: Client, world):
    key = make_api_key(world["tenant"], Role.AUDITOR)
    response = client.get("/api/v1/audit-events?break_glass=true", headers=key.header)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert {r["id"] for r in rows} == _rows(world["tenant"], details__break_glass=True)
    desk = world["desk"].pk
    mine = client.get(f"/api/v1/audit-events?actor_user_id={desk}", headers=key.header).json()
    assert {r["id"] for r in mine["results"]} == _rows(world["tenant"], actor_user_id=desk)
    later = (timezone.now() + timedelta(hours=1)).isoformat().replace("+", "%2B")
    none = client.get(f"/api/v1/audit-events?occurred_from={later}", headers=key.header).json()
    assert none["results"] == []
