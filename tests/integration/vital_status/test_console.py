"""The console's vital-status pages: the panel on the patient page, the change page per role,
the stewards' death worklist (unverified deaths, queued notifications) and resolving one."""

from datetime import date

import pytest
from django.test import Client

from registration.models import DeathNotificationReview, Patient, ReviewReason
from registration.selectors.vital_status import vital_status_history
from registration.services.death_notifications import death_notification_queue
from registration.services.patients import patient_register
from registration.services.vital_status import DeathDate
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent, Role
from tests.factories import make_tenant, make_user
from tests.integration.test_console_patients import form_data
from tests.patient_builders import patient_data

pytestmark = pytest.mark.django_db
BASE = "/admin/registration/patient/"
WORKLIST = "/admin/registration/deathnotificationreview/"


@pytest.fixture
def world():
    tenant = make_tenant()
    with tenant_scope(tenant.id):
        patient = patient_register(actor=None, data=patient_data())
    return tenant, patient


def login(tenant, role) -> Client:
    client = Client()
    client.force_login(make_user(tenant, role))
    return client


def post(client, patient, **data):
    body = {
        "action": "record",
        "deceased_date": "",
        "deceased_date_precision": "day",
        "source": "front_desk",
        "refuted_status": "alive",
        "reason": "",
        **data,
    }
    return client.post(f"{BASE}{patient.id}/vital-status/", body)


def test_front_desk_records_a_death_and_the_patient_page_shows_it(world):
    tenant, patient = world
    desk = login(tenant, Role.FRONT_DESK)
    page = desk.get(f"{BASE}{patient.id}/vital-status/")
    assert page.status_code == 200
    choices = [c[0] for c in page.context["form"].fields["action"].choices]
    assert choices == ["record"]
    response = post(desk, patient, version="1", deceased_date="2024-05-17")
    assert response.status_code == 302
    detail = desk.get(f"{BASE}{patient.id}/change/").content.decode()
    assert "(deceased)" in detail
    assert 'data-change="recorded"' in detail
    # The front desk may not verify.
    response = post(desk, patient, action="verify", version="2")
    assert "Your role does not allow this change." in response.content.decode()
    with tenant_scope(tenant.id):
        assert len(vital_status_history(patient_id=patient.id)) == 1


def test_refusals_change_nothing(world):
    tenant, patient = world
    desk = login(tenant, Role.FRONT_DESK)
    response = post(desk, patient, version="1", deceased_date="2999-01-01")
    assert response.status_code == 200
    assert "cannot be future" in response.content.decode()
    response = post(desk, patient, version="7", deceased_date="2024-01-01")
    assert "changed by someone else" in response.content.decode()
    with tenant_scope(tenant.id):
        assert Patient.objects.get(id=patient.id).vital_status == "alive"


def test_a_steward_verifies_corrects_and_refutes(world):
    tenant, patient = world
    steward = login(tenant, Role.DATA_STEWARD)
    assert post(steward, patient, version="1", deceased_date="2024-05-17").status_code == 302
    assert post(steward, patient, action="verify", version="2").status_code == 302
    response = post(
        steward,
        patient,
        action="correct",
        version="3",
        deceased_date="2024-05-01",
        deceased_date_precision="month",
        reason="certificate gives the month only",
    )
    assert response.status_code == 302
    response = post(steward, patient, action="refute", version="4", reason="wrong patient")
    assert response.status_code == 302
    with tenant_scope(tenant.id):
        changes = [e.change for e in vital_status_history(patient_id=patient.id)]
    assert changes == ["recorded", "verified", "corrected", "refuted"]


def test_the_worklist_for_stewards_only(world):
    tenant, patient = world
    steward = login(tenant, Role.DATA_STEWARD)
    post(steward, patient, version="1", deceased_date="2024-05-17")
    with tenant_scope(tenant.id):
        for n, reason in ((1, ReviewReason.NO_MATCH), (2, ReviewReason.UNCERTAIN)):
            death_notification_queue(
                inbox_message_id=n,
                notification_id=f"CR-{n}",
                identifier_system="urn:ssn",
                identifier_value=f"00{n}",
                death=DeathDate(date(2024, 5, 17)),
                certificate_number="",
                reason=reason,
                candidate_ids=[patient.id] if n == 2 else [],
            )
        first, second = DeathNotificationReview.objects.order_by("id")
    assert login(tenant, Role.FRONT_DESK).get(WORKLIST).status_code == 403
    page = steward.get(WORKLIST).content.decode()
    assert 'class="unverified-death"' in page
    assert "CR-1" in page
    assert "CR-2" in page
    response = steward.post(f"{WORKLIST}{first.id}/resolve/", {"decision": "dismiss", "reason": ""})
    assert response.status_code == 302
    response = steward.post(
        f"{WORKLIST}{first.id}/resolve/", {"decision": "dismiss", "reason": "not ours"}
    )
    response = steward.post(
        f"{WORKLIST}{second.id}/resolve/", {"decision": "record", "patient_id": "nope"}
    )
    response = steward.post(
        f"{WORKLIST}{second.id}/resolve/", {"decision": "record", "patient_id": str(patient.id)}
    )
    assert response.status_code == 302
    assert steward.get(f"{WORKLIST}{second.id}/change/").status_code == 302
    with tenant_scope(tenant.id):
        statuses = dict(DeathNotificationReview.objects.values_list("notification_id", "status"))
        # The patient was already deceased: recording refused, the review stays open.
        assert statuses == {"CR-1": "dismissed", "CR-2": "open"}
        assert AuditEvent.objects.filter(action="death_notification.dismissed").count() == 1
    page = steward.get(WORKLIST).content.decode()
    assert "CR-1" not in page


def test_registering_a_look_alike_of_a_deceased_patient_needs_a_steward(world):
    tenant, patient = world
    desk = login(tenant, Role.FRONT_DESK)
    post(desk, patient, version="1", deceased_date="2024-05-17")
    look_alike = form_data(
        names=[{"family": "Okafor", "given": "Adaeze Grace"}],
        birth_date="1987-03-14",
        reason="she is at the desk, alive",
    )
    refused = desk.post(f"{BASE}add/", look_alike)
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "A patient listed above is recorded as deceased" in page
    assert 'class="deceased-candidate"' in page
    [candidate] = refused.context["candidates"]
    assert (candidate["patient_id"], candidate["deceased"]) == (str(patient.id), True)
    with tenant_scope(tenant.id):
        assert Patient.objects.count() == 1
    # A data steward alone may not register at all; one who also registers patients, having
    # reviewed it (a different person), registers with the reason.
    assert login(tenant, Role.DATA_STEWARD).post(f"{BASE}add/", look_alike).status_code == 403
    reviewer = Client()
    reviewer.force_login(make_user(tenant, Role.FRONT_DESK, Role.DATA_STEWARD))
    saved = reviewer.post(f"{BASE}add/", {**look_alike, "duplicate_override-reason": "twin"})
    assert saved.status_code == 302
    with tenant_scope(tenant.id):
        assert Patient.objects.count() == 2


def test_an_ordinary_look_alike_is_not_called_deceased(world):
    tenant, patient = world
    desk = login(tenant, Role.FRONT_DESK)
    refused = desk.post(
        f"{BASE}add/",
        form_data(names=[{"family": "Okafor", "given": "Adaeze Grace"}], birth_date="1987-03-14"),
    )
    [candidate] = refused.context["candidates"]
    assert (candidate["patient_id"], candidate["deceased"]) == (str(patient.id), False)
    assert "recorded as deceased" not in refused.content.decode()
