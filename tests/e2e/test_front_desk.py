"""The front desk's day in a real browser: log in, search, start registering someone who looks
like an existing patient, see the warning while typing, save with a reason, find them.

Playwright's sync API runs an event loop in this thread, and Django refuses database access
while one runs: the data is set up before the browser starts and checked after it stops.
"""

import os
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from registration.models import Patient
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent, Role
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.factories import make_tenant, make_user
from tests.patient_factories import MRN_SYSTEM, make_patient

PASSWORD = "front-desk-e2e-pw"  # pragma: allowlist secret
REASON = "Twin sister, checked her ID card"


def _screenshot(page: Page, name: str) -> None:
    """Keep a picture of the page when E2E_SCREENSHOTS names a directory (for a human look)."""
    directory = os.environ.get("E2E_SCREENSHOTS")
    if directory:
        page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)


def _search(page: Page, name: str) -> None:
    page.fill("#search-name", name)
    page.click("#patient-search input[type=submit]")
    page.wait_for_load_state()


def _front_desk_flow(base_url: str, username: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.set_default_timeout(10_000)
        try:
            # Log in: the landing page starts with the patient search.
            page.goto(f"{base_url}/admin/login/?next=/admin/")
            page.fill("#id_username", username)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            expect(page.locator("#patient-search-landing")).to_be_visible()
            _screenshot(page, "1-landing")

            # Search: the existing patient is found.
            _search(page, "lovel")
            expect(page.locator("tr.patient-result")).to_have_count(1)
            expect(page.locator("#search-results")).to_contain_text("LOVELACE, Ada")
            _screenshot(page, "2-search")

            # Register someone who looks like her: warned live, before saving.
            page.click("text=Register a new patient")
            expect(page.locator("#duplicate-panel")).to_be_hidden()
            page.fill("#id_names-0-family", "Lovelace")
            page.fill("#id_names-0-given", "Ada")
            page.fill("#id_birth_date", "1985-12-10")
            page.select_option("#id_gender", "female")
            page.fill("#id_identifiers-0-system", MRN_SYSTEM)
            page.fill("#id_identifiers-0-value", "MRN-2002")
            page.select_option("#id_identifiers-0-type_code", "MR")
            page.fill("#id_telecoms-0-value", "+1 555 010 2002")
            page.click("#section-telecoms button.add-row")  # a second, empty row is left out
            expect(page.locator("#id_telecoms-1-value")).to_be_visible()
            panel = page.locator("#duplicate-panel")
            expect(panel).to_be_visible()
            expect(panel).to_contain_text("LOVELACE, Ada")
            expect(panel).to_contain_text("same name and birth date")
            assert page.url.endswith("/admin/registration/patient/add/")  # nothing submitted
            _screenshot(page, "3-duplicate-warning")

            # Save anyway, with a reason.
            page.fill("#id_duplicate_override-reason", REASON)
            page.click("#patient-form input[type=submit]")
            expect(page.locator("ul.messagelist")).to_contain_text("Patient registered.")
            expect(page.locator("#patient-identifiers")).to_contain_text("MRN-2002")
            expect(page.locator("#history-table")).to_contain_text(REASON)
            _screenshot(page, "4-registered")

            # Both are found now.
            page.click(".breadcrumbs >> text=Patients")
            _search(page, "lovelace")
            expect(page.locator("tr.patient-result")).to_have_count(2)
            expect(page.locator("#search-results")).to_contain_text("MR MRN-2002")
            _screenshot(page, "5-found")
        finally:
            browser.close()


@pytest.mark.e2e
def test_front_desk_registers_a_look_alike_with_a_reason(committed_db, live_server):
    tenant = make_tenant()
    user = make_user(tenant, Role.FRONT_DESK, password=PASSWORD)
    ada = make_patient(tenant, birth_date=date(1985, 12, 10), mrn="MRN-1001")

    _front_desk_flow(live_server.url, user.get_username())

    with tenant_scope(tenant.id):
        assert Patient.objects.count() == 2
        shown = AuditEvent.objects.filter(action="patient.duplicate_shown", actor_user=user)
        assert set(shown.values_list("object_id", flat=True)) == {str(ada.id)}
        registered = AuditEvent.objects.get(action="patient.registered", actor_user=user)
        assert registered.details["duplicate_override"] == {
            "reason": REASON,
            "candidate_ids": [str(ada.id)],
        }
