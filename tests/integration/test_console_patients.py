"""The front-desk console's patient pages, through Django's test client: who may see what,
registration with the duplicate check, edits guarded by the version, deactivation, history, the
access log, and that a refused form changes nothing."""

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar
from uuid import UUID

import pytest
from django.test import Client
from django.utils import timezone

from registration.models import Patient, PatientIdentifier, PatientName
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent, Role
from tests.factories import make_tenant, make_user
from tests.patient_factories import MRN_SYSTEM, make_patient

pytestmark = pytest.mark.django_db

T = TypeVar("T")
BASE = "/admin/registration/patient/"
ROW_DEFAULTS = {
    "names": {"use": "official"},
    "identifiers": {"use": "usual"},
    "telecoms": {"system": "phone"},
    "addresses": {},
    "contacts": {"relationship": "C"},
}


def form_data(
    *,
    names: list[dict[str, str]] | None = None,
    identifiers: list[dict[str, str]] | None = None,
    telecoms: list[dict[str, str]] | None = None,
    addresses: list[dict[str, str]] | None = None,
    contacts: list[dict[str, str]] | None = None,
    reason: str = "",
    version: int | None = None,
    initial: dict[str, int] | None = None,
    **patient: str,
) -> dict[str, str]:
    """The registration/edit form as a browser posts it."""
    data = {
        "gender": "female",
        "birth_date": "1990-04-01",
        "confidentiality": "normal",
        "duplicate_override-reason": reason,
        **patient,
    }
    if version is not None:
        data["version"] = str(version)
    sections = {
        "names": names if names is not None else [{"family": "Hopper", "given": "Grace"}],
        "identifiers": identifiers or [],
        "telecoms": telecoms or [],
        "addresses": addresses or [],
        "contacts": contacts or [],
    }
    for prefix, rows in sections.items():
        data[f"{prefix}-TOTAL_FORMS"] = str(len(rows))
        data[f"{prefix}-INITIAL_FORMS"] = str((initial or {}).get(prefix, 0))
        for index, row in enumerate(rows):
            for key, value in {**ROW_DEFAULTS[prefix], **row}.items():
                data[f"{prefix}-{index}-{key}"] = value
    return data


def in_tenant(tenant, query: Callable[[], T]) -> T:
    """Run a read inside the tenant's scope (row-level security shows nothing otherwise)."""
    with tenant_scope(tenant.id):
        return query()


def events(tenant, **filters) -> list[AuditEvent]:
    return in_tenant(tenant, lambda: list(AuditEvent.objects.filter(**filters).order_by("id")))


def patient_count(tenant) -> int:
    return in_tenant(tenant, Patient.objects.count)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Console users are logged in with force_login: no need for a slow password hash."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tenant():
    return make_tenant()


@pytest.fixture
def front_desk(tenant):
    return make_user(tenant, Role.FRONT_DESK)


@pytest.fixture
def desk(client: Client, front_desk) -> Client:
    client.force_login(front_desk)
    return client


@pytest.fixture
def ada(tenant) -> Patient:
    return make_patient(tenant)


def context(response, key: str) -> Any:
    return response.context[key]


class TestAccess:
    def test_front_desk_reaches_every_patient_page(self, desk: Client, ada):
        for url in (
            BASE,
            f"{BASE}?name=lovelace",
            f"{BASE}add/",
            f"{BASE}{ada.id}/change/",
            f"{BASE}{ada.id}/edit/",
            f"{BASE}{ada.id}/deactivate/",
        ):
            assert desk.get(url).status_code == 200, url
        landing = desk.get("/admin/").content.decode()
        assert 'id="patient-search-landing"' in landing
        assert f'href="{BASE}add/"' in landing

    def test_data_steward_may_look_but_not_change(self, client: Client, tenant, ada):
        client.force_login(make_user(tenant, Role.DATA_STEWARD))
        assert client.get(f"{BASE}?name=lovelace").status_code == 200
        page = client.get(f"{BASE}{ada.id}/change/").content.decode()
        assert "LOVELACE, Ada" in page
        assert 'id="edit-link"' not in page
        assert "Register a new patient" not in client.get("/admin/").content.decode()
        for url in (f"{BASE}add/", f"{BASE}{ada.id}/edit/", f"{BASE}{ada.id}/deactivate/"):
            assert client.get(url).status_code == 403, url
        assert client.post(f"{BASE}duplicates/", form_data()).status_code == 403

    @pytest.mark.parametrize("role", [Role.INTEGRATOR, Role.AUDITOR, Role.TENANT_ADMIN])
    def test_other_roles_see_no_patient_page(self, client: Client, tenant, ada, role):
        client.force_login(make_user(tenant, role))
        for url in (
            BASE,
            f"{BASE}?name=lovelace",
            f"{BASE}add/",
            f"{BASE}{ada.id}/edit/",
            f"{BASE}{ada.id}/deactivate/",
            f"{BASE}{ada.id}/history/",
        ):
            assert client.get(url).status_code == 403, url
        change = client.get(f"{BASE}{ada.id}/change/")
        if role == Role.INTEGRATOR:
            assert change.status_code == 403
        else:  # grant managers are sent to the care-team page, which shows no demographics
            assert change["Location"] == f"{BASE}{ada.id}/care-team/"
            assert "lovelace" not in client.get(change["Location"]).content.decode().lower()
        assert client.post(f"{BASE}duplicates/", form_data()).status_code == 403
        assert client.post(f"{BASE}add/", form_data()).status_code == 403
        assert 'id="patient-search-landing"' not in client.get("/admin/").content.decode()
        assert [e.action for e in events(tenant, action__startswith="patient.")] == [
            "patient.registered"
        ]

    def test_anonymous_is_sent_to_the_login(self, client: Client):
        response = client.get(BASE)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")

    def test_another_tenants_patient_is_404_and_never_listed(self, desk: Client, ada):
        stranger = make_patient(make_tenant(), mrn="MRN-1001")
        for url in (
            f"{BASE}{stranger.id}/change/",
            f"{BASE}{stranger.id}/edit/",
            f"{BASE}{stranger.id}/deactivate/",
            f"{BASE}not-a-uuid/change/",
        ):
            assert desk.get(url).status_code == 404, url
        assert (
            desk.post(
                f"{BASE}{stranger.id}/deactivate/", {"version": "1", "reason": "x"}
            ).status_code
            == 404
        )
        rows = context(desk.get(f"{BASE}?identifier=MRN-1001"), "rows")
        assert [row.id for row in rows] == [str(ada.id)]


class TestSearch:
    def test_search_lists_matches_and_logs_each_one_shown(self, desk: Client, tenant, ada):
        other = make_patient(
            tenant, family="Byron", given=("George",), birth_date=None, mrn="MRN-2", phone=None
        )
        for query in (
            "name=lov",
            "birth_date=1985-12-10",
            "identifier=MRN-1001",
            "phone=5550101001",
        ):
            rows = context(desk.get(f"{BASE}?{query}"), "rows")
            assert [row.id for row in rows] == [str(ada.id)], query
        assert [r.id for r in context(desk.get(f"{BASE}?name=george"), "rows")] == [str(other.id)]
        shown = events(tenant, action="patient.searched")
        assert [e.object_id for e in shown] == [str(ada.id)] * 4 + [str(other.id)]
        assert all(e.object_type == "patient" for e in shown)

    def test_empty_or_invalid_search_lists_nobody(self, desk: Client, tenant, ada):
        assert context(desk.get(BASE), "rows") == []
        response = desk.get(f"{BASE}?birth_date=2020-02-30")
        assert context(response, "rows") == []
        assert "birth_date" in context(response, "form").errors
        assert events(tenant, action="patient.searched") == []

    def test_search_pages_through_results(self, desk: Client, tenant):
        for n in range(27):  # near-identical records: the MPI rightly flags them as duplicates
            make_patient(
                tenant,
                family="Smith",
                given=(f"Kim{n:02d}",),
                mrn=f"S{n}",
                phone=None,
                duplicate_override_reason="distinct test patients",
            )
        first = desk.get(f"{BASE}?name=smith")
        assert len(context(first, "rows")) == 25
        assert context(first, "next_query") == "name=smith&page=2"
        second = desk.get(f"{BASE}?name=smith&page=2")
        assert [row.name for row in context(second, "rows")] == ["SMITH, Kim25", "SMITH, Kim26"]
        assert context(second, "next_query") == ""

    def test_search_query_count_does_not_grow_with_results(
        self, desk: Client, tenant, django_assert_max_num_queries
    ):
        for n in range(25):  # near-identical records: the MPI rightly flags them as duplicates
            make_patient(
                tenant,
                family="Jones",
                given=(f"Lee{n:02d}",),
                mrn=f"J{n}",
                duplicate_override_reason="distinct test patients",
            )
        # Session, user, memberships, tenant scope (4); patients and their six child tables
        # (links included) (7); one access-log INSERT; the console header and sidebar (5);
        # savepoints (3); the tenant's licensed modules (1, cached for the request); the
        # session's save (1). None of it grows with the number of results.
        with django_assert_max_num_queries(23):
            response = desk.get(f"{BASE}?name=jones")
        assert len(context(response, "rows")) == 25


class TestRegister:
    def test_happy_path_saves_every_section_through_the_service(self, desk: Client, tenant):
        response = desk.post(
            f"{BASE}add/",
            form_data(
                names=[{"family": "Hopper", "given": "Grace Brewster", "prefixes": "Dr"}],
                identifiers=[{"system": MRN_SYSTEM, "value": "MRN-77", "type_code": "MR"}],
                telecoms=[{"system": "phone", "value": "+1 555 010 7777", "use": "mobile"}],
                addresses=[{"lines": "1 Navy Way\nSuite 2", "city": "Arlington", "country": "US"}],
                contacts=[{"relationship": "N", "family": "Hopper", "given": "Vincent"}],
                language="en",
            ),
        )
        assert response.status_code == 302
        patient_id = UUID(response["Location"].split("/")[-3])

        def stored():
            patient = Patient.objects.get(id=patient_id)
            name = patient.names.get()
            return (
                name.family,
                name.given,
                name.prefix,
                list(patient.identifiers.values_list("value", flat=True)),
                list(patient.telecoms.values_list("value", flat=True)),
                patient.addresses.get().lines,
                patient.contacts.get().given,
                patient.language,
                patient.created_by,
            )

        user_label = f"user:{desk.session['_auth_user_id']}"
        assert in_tenant(tenant, stored) == (
            "Hopper",
            ["Grace", "Brewster"],
            ["Dr"],
            ["MRN-77"],
            ["+1 555 010 7777"],
            ["1 Navy Way", "Suite 2"],
            ["Vincent"],
            "en",
            user_label,
        )
        [registered] = events(tenant, action="patient.registered")
        assert registered.object_id == str(patient_id)
        page = desk.get(response["Location"]).content.decode()
        assert "Patient registered." in page
        assert "HOPPER, Grace Brewster" in page

    def test_look_alike_needs_a_reason_which_is_audited(self, desk: Client, tenant, ada):
        look_alike = form_data(
            names=[{"family": "lovelace", "given": "ADA"}], birth_date="1985-12-10"
        )
        refused = desk.post(f"{BASE}add/", look_alike)
        assert refused.status_code == 200
        assert patient_count(tenant) == 1
        [candidate] = context(refused, "candidates")
        assert candidate["patient_id"] == str(ada.id)
        assert candidate["matched_on"] == ["same name and birth date"]
        assert "reason" in context(refused, "override").errors
        page = refused.content.decode()
        assert "LOVELACE, Ada" in page
        assert 'id="duplicate-panel" aria-live="polite">' in page  # shown, not hidden
        assert [e.object_id for e in events(tenant, action="patient.duplicate_shown")] == [
            str(ada.id)
        ]

        saved = desk.post(f"{BASE}add/", {**look_alike, "duplicate_override-reason": "twin"})
        assert saved.status_code == 302
        assert patient_count(tenant) == 2
        registered = events(tenant, action="patient.registered")[-1]
        assert registered.details["duplicate_override"] == {
            "reason": "twin",
            "candidate_ids": [str(ada.id)],
        }

    def test_over_long_reason_is_refused_on_the_reason_box(self, desk: Client, tenant, ada):
        response = desk.post(
            f"{BASE}add/",
            form_data(
                names=[{"family": "Lovelace", "given": "Ada"}],
                birth_date="1985-12-10",
                reason="x" * 501,
            ),
        )
        assert response.status_code == 200
        assert context(response, "override").errors["reason"] == [
            "Give a reason of 1 to 500 characters."
        ]
        assert patient_count(tenant) == 1

    def test_invalid_input_is_shown_field_by_field_and_nothing_is_written(
        self, desk: Client, tenant
    ):
        tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
        response = desk.post(
            f"{BASE}add/",
            form_data(
                birth_date=tomorrow,
                language="not a language",
                names=[
                    {"family": "Hopper", "given": "Grace", "prefixes": "x" * 31},
                    {"family": "", "given": ""},
                ],
                identifiers=[
                    {"system": MRN_SYSTEM, "value": "ok-1"},
                    {"system": "not a uri", "value": "X1", "type_code": "MR"},
                ],
                telecoms=[{"system": "phone", "value": "12"}],
                contacts=[{"relationship": "N", "family": "Kin", "email": "not-an-email"}],
            ),
        )
        assert response.status_code == 200
        group = context(response, "group")
        assert group.patient.errors == {
            "birth_date": ["The birth date is in the future."],
            "language": ["Use a BCP-47 language tag such as 'en' or 'es-MX'."],
        }
        assert group.sections["names"].forms[0].errors == {"prefixes": ["At most 30 characters."]}
        identifiers = group.sections["identifiers"].forms
        assert identifiers[0].errors == {}
        assert list(identifiers[1].errors) == ["system"]
        assert list(group.sections["telecoms"].forms[0].errors) == ["value"]
        assert list(group.sections["contacts"].forms[0].errors) == ["email"]
        assert "Nothing was saved" in response.content.decode()
        assert patient_count(tenant) == 0
        assert events(tenant, object_type="patient") == []

    def test_unparseable_boxes_and_missing_names_are_refused(self, desk: Client, tenant):
        bad_date = desk.post(f"{BASE}add/", form_data(birth_date="1990-02-30"))
        assert "birth_date" in context(bad_date, "group").patient.errors
        no_name = desk.post(f"{BASE}add/", form_data(names=[]))
        assert context(no_name, "group").section_errors["names"] == [
            "At least one name is required."
        ]
        bad_rank = desk.post(
            f"{BASE}add/", form_data(telecoms=[{"value": "+1 555 010 0000", "rank": "high"}])
        )
        assert "rank" in context(bad_rank, "group").sections["telecoms"].forms[0].errors
        assert patient_count(tenant) == 0
        assert events(tenant, object_type="patient") == []

    def test_identifier_of_another_patient_is_shown_on_its_row(self, desk: Client, tenant, ada):
        response = desk.post(
            f"{BASE}add/",
            form_data(
                names=[{"family": "Other", "given": "Person"}],
                identifiers=[{"system": MRN_SYSTEM, "value": "MRN-1001"}],
                reason="front desk checked: different person",
            ),
        )
        assert response.status_code == 200
        row = context(response, "group").sections["identifiers"].forms[0]
        assert row.non_field_errors() == ["Already assigned to another patient."]
        assert patient_count(tenant) == 1
        assert events(tenant, action="patient.registered") == events(
            tenant, action="patient.registered", object_id=str(ada.id)
        )


class TestLiveDuplicateCheck:
    def test_partial_form_finds_the_candidates_and_logs_them(self, desk: Client, tenant, ada):
        partial = form_data(names=[{"family": "Lovelace", "given": "Ada"}], birth_date="1985-12-10")
        partial["telecoms-TOTAL_FORMS"] = "1"
        partial["telecoms-0-system"] = "phone"
        partial["telecoms-0-rank"] = "not yet a number"  # half-filled boxes do not matter
        response = desk.post(f"{BASE}duplicates/", partial)
        assert response.status_code == 200
        [candidate] = response.json()["candidates"]
        assert candidate["patient_id"] == str(ada.id)
        assert candidate["url"] == f"{BASE}{ada.id}/change/"
        assert candidate["name"] == "LOVELACE, Ada"
        assert [e.object_id for e in events(tenant, action="patient.duplicate_shown")] == [
            str(ada.id)
        ]

    def test_identifier_alone_is_enough(self, desk: Client, ada):
        data = form_data(names=[], identifiers=[{"system": MRN_SYSTEM, "value": "MRN-1001"}])
        [candidate] = desk.post(f"{BASE}duplicates/", data).json()["candidates"]
        assert candidate["matched_on"] == ["same identifier"]

    def test_nothing_typed_finds_nobody_and_logs_nothing(self, desk: Client, tenant, ada):
        response = desk.post(f"{BASE}duplicates/", {})
        assert response.json() == {"candidates": []}
        assert events(tenant, action="patient.duplicate_shown") == []

    def test_needs_post_and_csrf(self, front_desk):
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(front_desk)
        assert browser.get(f"{BASE}duplicates/").status_code == 405
        assert browser.post(f"{BASE}duplicates/", form_data()).status_code == 403


class TestEdit:
    def test_edit_form_shows_the_record_and_saves_a_change(self, desk: Client, tenant, ada):
        form = desk.get(f"{BASE}{ada.id}/edit/")
        group = context(form, "group")
        assert group.sections["names"].forms[0]["family"].value() == "Lovelace"
        assert context(form, "version")["version"].value() == 1
        response = desk.post(
            f"{BASE}{ada.id}/edit/",
            form_data(
                version=1,
                birth_date="1985-12-10",
                names=[{"family": "Lovelace", "given": "Ada Augusta"}],
                identifiers=[{"system": MRN_SYSTEM, "value": "MRN-1001", "type_code": "MR"}],
            ),
        )
        assert response.status_code == 302
        stored = in_tenant(tenant, lambda: Patient.objects.get(id=ada.id))
        assert stored.version == 2
        [updated] = events(tenant, action="patient.updated")
        assert "names" in updated.details["changed"]

    def test_unchanged_form_round_trips_without_a_new_version(self, desk: Client, tenant):
        patient = make_patient(tenant, given=("Mary Ann", "Louise"))
        form = desk.get(f"{BASE}{patient.id}/edit/")
        data = _resubmit(form)
        assert data["names-0-given"] == "Mary Ann, Louise"
        assert desk.post(f"{BASE}{patient.id}/edit/", data).status_code == 302
        assert in_tenant(tenant, lambda: Patient.objects.get(id=patient.id).version) == 1
        assert events(tenant, action="patient.updated") == []

    def test_removing_an_identifier_retires_it_and_the_page_still_shows_it(
        self, desk: Client, tenant, ada
    ):
        data = _resubmit(desk.get(f"{BASE}{ada.id}/edit/"))
        data["identifiers-0-DELETE"] = "on"
        assert desk.post(f"{BASE}{ada.id}/edit/", data).status_code == 302
        retired = in_tenant(tenant, lambda: PatientIdentifier.objects.get(patient_id=ada.id))
        assert retired.retired_at is not None
        page = desk.get(f"{BASE}{ada.id}/change/").content.decode()
        assert 'class="retired-identifier"' in page
        assert "MRN-1001" in page

    def test_stale_version_is_refused_with_a_reload_message(self, desk: Client, tenant, ada):
        stale = _resubmit(desk.get(f"{BASE}{ada.id}/edit/"))
        fresh = dict(stale, **{"names-0-given": "Augusta"})
        assert desk.post(f"{BASE}{ada.id}/edit/", fresh).status_code == 302
        mine = dict(stale, **{"names-0-family": "King"})
        response = desk.post(f"{BASE}{ada.id}/edit/", mine)
        assert response.status_code == 200
        assert "changed by someone else" in response.content.decode()
        name = in_tenant(tenant, lambda: PatientName.objects.get(patient_id=ada.id))
        assert (name.family, name.given) == ("Lovelace", ["Augusta"])
        assert len(events(tenant, action="patient.updated")) == 1

    def test_invalid_edit_changes_nothing(self, desk: Client, tenant, ada):
        data = _resubmit(desk.get(f"{BASE}{ada.id}/edit/"))
        data["telecoms-0-value"] = "call me"
        response = desk.post(f"{BASE}{ada.id}/edit/", data)
        assert response.status_code == 200
        assert list(context(response, "group").sections["telecoms"].forms[0].errors) == ["value"]
        assert in_tenant(tenant, lambda: Patient.objects.get(id=ada.id).version) == 1
        assert events(tenant, action="patient.updated") == []

    def test_missing_version_is_refused(self, desk: Client, tenant, ada):
        data = _resubmit(desk.get(f"{BASE}{ada.id}/edit/"))
        del data["version"]
        response = desk.post(f"{BASE}{ada.id}/edit/", data)
        assert response.status_code == 200
        assert events(tenant, action="patient.updated") == []


def _resubmit(response) -> dict[str, str]:
    """What the browser would post back for an edit page it was sent, untouched."""
    data: dict[str, str] = {"version": str(context(response, "version")["version"].value())}
    group = context(response, "group")
    forms = [group.patient]
    for formset in group.sections.values():
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = str(management[name].value())
        forms.extend(formset.forms)
    for form in forms:
        for field in form:
            value = field.value()
            if value in (None, False):
                continue
            if isinstance(value, date):
                value = value.isoformat()
            data[field.html_name] = str(value)
    return data


class TestDeactivate:
    def test_reason_required_then_deactivated(self, desk: Client, tenant, ada):
        url = f"{BASE}{ada.id}/deactivate/"
        refused = desk.post(url, {"version": "1", "reason": "  "})
        assert refused.status_code == 200
        assert context(refused, "form").errors["reason"] == [
            "Give a reason of 1 to 500 characters."
        ]
        assert in_tenant(tenant, lambda: Patient.objects.get(id=ada.id).active) is True

        done = desk.post(url, {"version": "1", "reason": "registered twice"})
        assert done.status_code == 302
        stored = in_tenant(tenant, lambda: Patient.objects.get(id=ada.id))
        assert (stored.active, stored.deactivation_reason) == (False, "registered twice")
        assert len(events(tenant, action="patient.deactivated")) == 1
        page = desk.get(f"{BASE}{ada.id}/change/").content.decode()
        assert "(inactive)" in page
        assert 'id="edit-link"' not in page
        assert desk.get(f"{BASE}{ada.id}/edit/").status_code == 302
        assert desk.get(url).status_code == 302

    def test_stale_version_is_refused(self, desk: Client, tenant, ada):
        response = desk.post(f"{BASE}{ada.id}/deactivate/", {"version": "7", "reason": "dup"})
        assert "changed by someone else" in response.content.decode()
        assert in_tenant(tenant, lambda: Patient.objects.get(id=ada.id).active) is True


class TestNoDeleteAndHistory:
    def test_there_is_no_delete(self, desk: Client, tenant, ada):
        assert desk.get(f"{BASE}{ada.id}/delete/").status_code == 403
        assert desk.post(f"{BASE}{ada.id}/delete/", {"post": "yes"}).status_code == 403
        for url in (BASE + "?name=lovelace", f"{BASE}{ada.id}/change/", f"{BASE}{ada.id}/edit/"):
            page = desk.get(url).content.decode()
            assert "deletelink" not in page, url
            assert "/delete/" not in page, url
        assert patient_count(tenant) == 1

    def test_history_lists_the_audit_trail_newest_first(self, desk: Client, tenant, ada):
        desk.post(f"{BASE}{ada.id}/deactivate/", {"version": "1", "reason": "moved away"})
        response = desk.get(f"{BASE}{ada.id}/change/")
        codes = [row.code for row in context(response, "history")]
        assert codes == ["patient.read", "patient.deactivated", "patient.registered"]
        assert 'id="history"' in response.content.decode()
        redirect = desk.get(f"{BASE}{ada.id}/history/")
        assert redirect["Location"] == f"{BASE}{ada.id}/change/#history"

    def test_opening_a_patient_is_logged(self, desk: Client, tenant, ada):
        desk.get(f"{BASE}{ada.id}/change/")
        desk.get(f"{BASE}{ada.id}/edit/")
        reads = events(tenant, action="patient.read")
        assert [(e.object_type, e.object_id) for e in reads] == [("patient", str(ada.id))] * 2
        assert all(e.actor_user_id is not None and e.request_id for e in reads)
