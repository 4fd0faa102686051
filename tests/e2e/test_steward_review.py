"""A data steward's queue in a real browser: log in, open the queue, compare a pair, merge it
with one key, see the survivor carrying the old identifiers, undo the merge, see both records
back; then clear a second pair as "not a duplicate" from the keyboard.

Every click and key press on the way is counted (`Steps`); the figure per decided pair is
printed (run with -s) and asserted as a ceiling, so a change that adds steps fails here.
Playwright's sync API runs an event loop in this thread: data is set up before the browser
starts and checked after it stops.
"""

import time
from dataclasses import dataclass, field
from datetime import date

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from mpi.models import (
    CandidateGrade,
    CandidateSource,
    CandidateStatus,
    MatchCandidate,
    MergeStatus,
    PatientMerge,
)
from registration.models import Patient
from tenancy.db import tenant_scope
from tenancy.models import Role
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.factories import make_tenant, make_user
from tests.integration.mpi.test_merges import content
from tests.patient_factories import make_patient

PASSWORD = "steward-e2e-pw"  # pragma: allowlist secret


@dataclass
class Steps:
    """Clicks and keys a steward spends, per decided pair."""

    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def key(self, page: Page, pair: str, key: str) -> None:
        page.keyboard.press(key)
        self.counts[pair] = self.counts.get(pair, 0) + 1

    def type(self, page: Page, pair: str, text: str) -> None:
        page.keyboard.type(text)
        self.counts[pair] = self.counts.get(pair, 0) + len(text)


def _steward_flow(base_url: str, username: str, survivor_mrn: str, subsumed_mrn: str) -> Steps:
    steps = Steps()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.set_default_timeout(10_000)
        try:
            page.goto(f"{base_url}/admin/login/?next=/admin/mpi/matchcandidate/")
            page.fill("#id_username", username)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")

            # The queue: most probable pair first and selected.
            rows = page.locator("#queue-table tr.queue-row")
            expect(rows).to_have_count(2)
            expect(rows.first).to_have_class("queue-row selected")
            expect(rows.first).to_contain_text("0.970")

            # Compare the first pair: differences highlighted, evidence next to the row.
            started = time.monotonic()
            steps.key(page, "merge", "o")
            expect(page.locator("#compare-title")).to_be_visible()
            expect(page.locator("tr.compare-row[data-field=identifiers]")).to_have_class(
                "compare-row differs"
            )
            expect(page.locator("tr.compare-row[data-field=birth_date]")).not_to_have_class(
                "compare-row differs"
            )
            expect(
                page.locator("tr.compare-row[data-field=birth_date] td.explain")
            ).to_contain_text("birth_date: exact")
            expect(page.locator("#left-history")).to_contain_text("Registered")

            # Merge with the default survivor (the older record): one key.
            steps.key(page, "merge", "m")
            expect(page.locator("ul.messagelist")).to_contain_text("Records merged.")
            steps.seconds["merge"] = time.monotonic() - started
            survivor = page.locator("#record-1")
            expect(survivor.locator("tr.identifier-row[data-use=old]")).to_contain_text(
                subsumed_mrn
            )
            expect(survivor.locator("tr.identifier-row[data-use=usual]")).to_contain_text(
                survivor_mrn
            )
            expect(page.locator("#record-2")).to_contain_text("(inactive)")
            expect(page.locator("#record-2")).to_contain_text("Replaced by")

            # Undo it: both records are back as before.
            page.fill("#unmerge-reason", "Merged the wrong pair")
            page.click("#unmerge-button")
            expect(page.locator("ul.messagelist")).to_contain_text("Merge undone")
            expect(page.locator("#merge-status")).to_have_text("Undone")
            expect(page.locator("#record-1 tr.identifier-row")).to_have_count(1)
            expect(page.locator("#record-1")).to_contain_text(survivor_mrn)
            expect(page.locator("#record-2")).not_to_contain_text("(inactive)")
            expect(page.locator("#record-2 tr.identifier-row[data-retired=no]")).to_contain_text(
                subsumed_mrn
            )

            # The second pair, from the queue, as "not a duplicate" from the keyboard.
            page.goto(f"{base_url}/admin/mpi/matchcandidate/")
            expect(page.locator("#queue-table tr.queue-row")).to_have_count(1)
            started = time.monotonic()
            steps.key(page, "not_duplicate", "o")
            expect(page.locator("#compare-title")).to_be_visible()
            steps.key(page, "not_duplicate", "n")
            steps.type(page, "not_duplicate", "twins")
            steps.key(page, "not_duplicate", "Enter")
            expect(page.locator("ul.messagelist")).to_contain_text("Marked as different people.")
            steps.seconds["not_duplicate"] = time.monotonic() - started
        finally:
            browser.close()
    return steps


@pytest.mark.e2e
def test_steward_compares_merges_and_undoes_from_the_queue(committed_db, live_server):
    tenant = make_tenant()
    user = make_user(tenant, Role.DATA_STEWARD, password=PASSWORD)
    reason = "look-alike for the review test"
    first = make_patient(tenant, mrn="MRN-7001", duplicate_override_reason=reason)
    second = make_patient(tenant, mrn="MRN-7002", duplicate_override_reason=reason)
    third = make_patient(
        tenant, mrn="MRN-7003", birth_date=date(1990, 1, 2), duplicate_override_reason=reason
    )
    with tenant_scope(tenant.id):
        before = {p.id: (p.version, p.active) for p in Patient.objects.all()}
        rows_before = content([first.id, second.id])

        def propose(a: Patient, b: Patient, probability: float) -> MatchCandidate:
            low, high = sorted((a.id, b.id))
            return MatchCandidate.objects.create(
                tenant_id=tenant.id,
                patient_low_id=low,
                patient_high_id=high,
                probability=probability,
                weight=15.0,
                grade=CandidateGrade.PROBABLE,
                explanation=[
                    {"field": "birth_date", "level": "exact", "weight": 7.2},
                    {"field": "identifiers", "level": "different", "weight": -2.0},
                ],
                model_version="default-1",
                source=CandidateSource.BATCH,
            )

        merged_pair = propose(first, second, 0.97)
        other_pair = propose(first, third, 0.61)
    older, newer = sorted((first, second), key=lambda p: p.created_at)

    steps = _steward_flow(live_server.url, user.get_username(), *_mrns(older, newer))

    print(f"\nsteward steps per decided pair: {steps.counts}; seconds: {steps.seconds}")
    assert steps.counts["merge"] <= 2
    assert steps.counts["not_duplicate"] <= 3 + len("twins")
    with tenant_scope(tenant.id):
        merge = PatientMerge.objects.get()
        assert merge.status == MergeStatus.UNMERGED
        assert merge.survivor_id == older.id
        for patient in Patient.objects.filter(id__in=[first.id, second.id]):
            assert patient.active is before[patient.id][1]
            assert patient.version == before[patient.id][0] + 2
        # Both records back as before: every row of both, ids and stamps included.
        assert content([first.id, second.id]) == rows_before
        merged_pair.refresh_from_db()
        other_pair.refresh_from_db()
        assert merged_pair.status == CandidateStatus.MERGED  # unmerge reopens nothing
        assert (other_pair.status, other_pair.reason) == (CandidateStatus.NOT_DUPLICATE, "twins")


def _mrns(older: Patient, newer: Patient) -> tuple[str, str]:
    """The survivor's (older record's) MRN and the merged-away record's."""
    return _mrn_of(older), _mrn_of(newer)


def _mrn_of(patient: Patient) -> str:
    with tenant_scope(patient.tenant_id):
        return patient.identifiers.get().value
