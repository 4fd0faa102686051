"""Break-glass end to end, through real HTTP and a real browser.

A user without a grant sees a restricted patient masked in search, gets 403 on open, breaks
the glass with a reason, sees the record (audited with the grant id, announced through the
outbox), loses it the moment the grant expires (the expiry is moved in the database, not
waited for), an auditor reviews the grant and then puts the user on the patient's care team,
after which the user opens the record without break-glass.

Playwright's sync API runs an event loop in this thread, and Django refuses database access
while one runs: each browser session runs between database steps.
"""

import json
import os
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect, sync_playwright

from outbox.models import OutboxEvent
from registration.models import PatientAccessGrant
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent, Role
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.factories import make_api_key, make_tenant, make_user
from tests.patient_factories import make_patient, patient_input

PASSWORD = "break-glass-e2e-pw"  # pragma: allowlist secret
REASON = "Brought in unconscious, needs allergy history"


def _screenshot(page: Page, name: str) -> None:
    directory = os.environ.get("E2E_SCREENSHOTS")
    if directory:
        page.screenshot(path=str(Path(directory) / f"bg-{name}.png"), full_page=True)


def _expire_grants(tenant_id: Any) -> None:
    with tenant_scope(tenant_id):
        PatientAccessGrant.objects.update(expires_at=timezone.now() - timedelta(seconds=1))


def _break_glass_evidence(tenant_id: Any, patient_id: Any) -> tuple[PatientAccessGrant, list[Any]]:
    with tenant_scope(tenant_id):
        grant = PatientAccessGrant.objects.get()
        reads = list(
            AuditEvent.objects.filter(action="patient.read", object_id=str(patient_id)).values_list(
                "details", flat=True
            )
        )
        assert AuditEvent.objects.get(action="break_glass.opened").details["grant_id"] == str(
            grant.id
        )
        event = OutboxEvent.objects.get(event_type="security.break-glass-used")
        assert event.payload["grant_id"] == str(grant.id)
        assert event.payload["patient_id"] == str(patient_id)
    return grant, reads


# ------------------------------------------------------------------ API over real HTTP


def _http(base: str, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - the live test server's http URL
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Api-Key {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - as above
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.mark.e2e
def test_break_glass_over_the_api(committed_db, live_server):
    tenant = make_tenant()
    secret = make_patient(
        tenant, data=replace(patient_input(mrn="MRN-7001"), confidentiality="restricted")
    )
    desk = make_api_key(tenant, Role.FRONT_DESK).token
    auditor = make_api_key(tenant, Role.AUDITOR).token
    base = live_server.url

    status, page = _http(base, "GET", "/api/v1/patients?family=lovelace", desk)
    assert status == 200
    assert [(r["id"], r["masked"], r["names"]) for r in page["results"]] == [
        (str(secret.id), True, [])
    ]
    status, problem = _http(base, "GET", f"/api/v1/patients/{secret.id}", desk)
    assert (status, problem["code"], problem["break_glass_available"]) == (
        403,
        "restricted-patient",
        True,
    )
    status, grant = _http(
        base,
        "POST",
        f"/api/v1/patients/{secret.id}/break-glass",
        desk,
        {"reason_category": "emergency", "reason": REASON},
    )
    assert status == 201
    status, record = _http(base, "GET", f"/api/v1/patients/{secret.id}", desk)
    assert status == 200
    assert record["names"][0]["family"] == "Lovelace"

    stored, reads = _break_glass_evidence(tenant.id, secret.id)
    assert str(stored.id) == grant["id"]
    assert reads == [{"grant_id": grant["id"], "break_glass": True}]

    _expire_grants(tenant.id)
    status, problem = _http(base, "GET", f"/api/v1/patients/{secret.id}", desk)
    assert (status, problem["code"]) == (403, "restricted-patient")

    status, queue = _http(base, "GET", "/api/v1/break-glass-grants", auditor)
    assert [g["id"] for g in queue["results"]] == [grant["id"]]
    status, reviewed = _http(
        base,
        "POST",
        f"/api/v1/break-glass-grants/{grant['id']}/review",
        auditor,
        {"decision": "justified", "note": "ER admission confirmed"},
    )
    assert (status, reviewed["review_decision"]) == (200, "justified")


# ------------------------------------------------------------------ the console in a browser


def _login(browser: Browser, base_url: str, username: str) -> Page:
    page = browser.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    return page


def _desk_breaks_the_glass(base_url: str, username: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = _login(browser, base_url, username)
            page.fill("#search-name", "lovel")
            page.click("#patient-search input[type=submit]")
            page.wait_for_load_state()
            row = page.locator("tr.patient-result")
            expect(row).to_have_count(1)
            expect(row).to_have_class("patient-result patient-masked")
            expect(row).to_contain_text("Restricted record")
            expect(page.locator("#search-results")).not_to_contain_text("LOVELACE")
            _screenshot(page, "1-masked")

            page.click("text=Restricted record")
            expect(page.locator("#restricted-notice")).to_be_visible()
            expect(page.locator("body")).not_to_contain_text("Lovelace")
            _screenshot(page, "2-restricted")

            page.select_option("#id_reason_category", "emergency")
            page.fill("#id_reason", REASON)
            page.click("#break-glass-submit")
            expect(page.locator("#patient-title")).to_contain_text("LOVELACE")
            expect(page.locator("#break-glass-banner")).to_be_visible()
            _screenshot(page, "3-opened")
        finally:
            browser.close()


def _desk_is_refused_then_auditor_reviews(
    base_url: str, desk: str, auditor: str, patient_id: str, grant_id: str
) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = _login(browser, base_url, desk)
            response = page.goto(f"{base_url}/admin/registration/patient/{patient_id}/change/")
            assert response is not None
            assert response.status == 403
            expect(page.locator("#break-glass-form")).to_be_visible()
            _screenshot(page, "4-expired")
            page.close()

            page = _login(browser, base_url, auditor)
            page.goto(f"{base_url}/admin/registration/patientaccessgrant/")
            page.click(f"text={grant_id}")
            expect(page.locator("body")).to_contain_text(REASON)
            page.select_option("#id_review_decision", "justified")
            page.fill("#id_review_note", "Ambulance record confirms the emergency")
            page.click("input[name=_save]")
            expect(page.locator("ul.messagelist")).to_be_visible()
            _screenshot(page, "5-reviewed")

            # The privacy officer then puts the desk on the care team: no break-glass needed.
            page.goto(f"{base_url}/admin/registration/patient/{patient_id}/care-team/")
            page.select_option("#id_user", label=desk)
            page.fill("#id_reason", "Treating nurse for this admission")
            page.click("#care-team-submit")
            expect(page.locator("#care-team-table")).to_contain_text(desk)
            _screenshot(page, "6-care-team")
            page.close()

            page = _login(browser, base_url, desk)
            response = page.goto(f"{base_url}/admin/registration/patient/{patient_id}/change/")
            assert response is not None
            assert response.status == 200
            expect(page.locator("#break-glass-banner")).to_have_count(0)
        finally:
            browser.close()


@pytest.mark.e2e
def test_break_glass_in_the_console(committed_db, live_server):
    tenant = make_tenant()
    desk = make_user(tenant, Role.FRONT_DESK, password=PASSWORD)
    auditor = make_user(tenant, Role.AUDITOR, password=PASSWORD)
    secret = make_patient(
        tenant, data=replace(patient_input(mrn="MRN-7002"), confidentiality="restricted")
    )

    _desk_breaks_the_glass(live_server.url, desk.get_username())

    grant, reads = _break_glass_evidence(tenant.id, secret.id)
    assert grant.grantee_user_id == desk.pk
    assert grant.reason_text == REASON
    assert reads == [{"grant_id": str(grant.id), "break_glass": True}]
    _expire_grants(tenant.id)

    _desk_is_refused_then_auditor_reviews(
        live_server.url, desk.get_username(), auditor.get_username(), str(secret.id), str(grant.id)
    )

    with tenant_scope(tenant.id):
        grant.refresh_from_db()
        assert grant.review_decision == "justified"
        assert grant.reviewed_by_id == auditor.pk
        assert AuditEvent.objects.filter(action="break_glass.reviewed").count() == 1
        assert AuditEvent.objects.filter(action="access_grant.created").count() == 1
        assert PatientAccessGrant.objects.filter(kind="care_team", grantee_user=desk).exists()
