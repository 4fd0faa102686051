"""Proposing scored pairs to the review queue: upsert rules, no re-proposal, audit summary."""

from datetime import date

import pytest

from mpi.matching.score import ExplanationEntry, MatchGrade
from mpi.models import (
    CandidateGrade,
    CandidateSource,
    CandidateStatus,
    MatchCandidate,
    MatchDecisionKind,
)
from mpi.services.candidates import ProposalSummary, ScoredPair, match_candidates_propose
from mpi.services.decisions import match_decision_record
from tenancy.db import tenant_scope
from tenancy.models import AuditEvent
from tests.factories import make_tenant
from tests.integration.mpi.conftest import person, register

pytestmark = pytest.mark.django_db

EXPLANATION = (
    ExplanationEntry(
        field="family",
        level="EXACT",
        weight=7.5,
        m=0.9,
        u=0.01,
        left_value="smith",
        right_value="smith",
        term_frequency=None,
    ),
)


def scored(a, b, grade=MatchGrade.PROBABLE, probability=0.9, weight=8.0):
    return ScoredPair(
        patient_id=a.id,
        other_patient_id=b.id,
        probability=probability,
        weight=weight,
        grade=grade,
        explanation=EXPLANATION,
    )


@pytest.fixture
def patients(scope):
    return [register(person("Smith", f"Given{i}", date(1980, 1, i + 1))) for i in range(6)]


def test_new_pairs_are_stored_in_canonical_order_with_their_evidence(patients):
    a, b, c, _, _, _ = patients
    summary = match_candidates_propose(
        actor=None,
        pairs=[scored(b, a), scored(a, c, MatchGrade.CERTAIN, 0.999, 20.0)],
        model_version="tenant-v3",
    )
    assert summary == ProposalSummary(offered=2, inserted=2, refreshed=0, skipped=0, certain=1)
    row = MatchCandidate.objects.get(grade=CandidateGrade.PROBABLE)
    assert (row.patient_low_id, row.patient_high_id) == tuple(sorted((a.id, b.id)))
    assert (row.status, row.source, row.model_version) == (
        CandidateStatus.OPEN,
        CandidateSource.BATCH,
        "tenant-v3",
    )
    assert row.explanation[0]["field"] == "family"
    assert row.explanation[0]["weight"] == 7.5


def test_open_pairs_are_refreshed_and_others_left_alone(patients):
    a, b, c, d, e, f = patients
    match_candidates_propose(
        actor=None, pairs=[scored(a, b), scored(c, d), scored(e, f)], model_version="tenant-v1"
    )
    MatchCandidate.objects.filter(patient_low_id__in=(c.id, d.id)).update(
        status=CandidateStatus.NOT_DUPLICATE
    )
    MatchCandidate.objects.filter(patient_low_id__in=(e.id, f.id)).update(
        status=CandidateStatus.MERGED
    )
    summary = match_candidates_propose(
        actor=None,
        pairs=[
            scored(b, a, MatchGrade.CERTAIN, 0.99, 15.0),
            scored(c, d, MatchGrade.CERTAIN, 0.99, 15.0),
            scored(e, f, MatchGrade.CERTAIN, 0.99, 15.0),
        ],
        model_version="tenant-v2",
        source=CandidateSource.ONLINE,
    )
    assert summary == ProposalSummary(offered=3, inserted=0, refreshed=1, skipped=2, certain=1)
    refreshed = MatchCandidate.objects.get(patient_low_id__in=(a.id, b.id))
    assert (refreshed.grade, refreshed.model_version, refreshed.weight) == (
        CandidateGrade.CERTAIN,
        "tenant-v2",
        15.0,
    )
    assert refreshed.source == CandidateSource.BATCH  # the first proposer stays recorded
    for untouched in MatchCandidate.objects.exclude(pk=refreshed.pk):
        assert (untouched.grade, untouched.model_version) == (CandidateGrade.PROBABLE, "tenant-v1")


def test_decided_pairs_are_never_proposed(patients):
    a, b, c, _, _, _ = patients
    match_decision_record(
        actor=None, patient_id=a.id, other_patient_id=b.id, decision=MatchDecisionKind.NOT_DUPLICATE
    )
    summary = match_candidates_propose(
        actor=None, pairs=[scored(b, a), scored(a, c)], model_version="default-1"
    )
    assert (summary.inserted, summary.skipped) == (1, 1)
    assert not MatchCandidate.objects.filter(
        patient_low_id__in=(a.id, b.id), patient_high_id__in=(a.id, b.id)
    ).exists()


def test_non_proposals_and_repeats_are_dropped_before_the_statement(patients):
    a, b, c, _, _, _ = patients
    summary = match_candidates_propose(
        actor=None,
        pairs=[
            scored(a, b, weight=3.0),
            scored(b, a, MatchGrade.CERTAIN, weight=12.0),
            scored(a, c, MatchGrade.CERTAINLY_NOT),
            scored(a, a),
        ],
        model_version="default-1",
    )
    assert (summary.offered, summary.inserted, summary.certain) == (1, 1, 1)
    assert MatchCandidate.objects.get().weight == 12.0
    assert match_candidates_propose(actor=None, pairs=[], model_version="x") == ProposalSummary()
    assert AuditEvent.objects.filter(action="mpi.candidates_proposed").count() == 1


def test_one_audit_summary_per_call_without_phi(patients):
    a, b, c, d, _, _ = patients
    match_candidates_propose(
        actor=None, pairs=[scored(a, b), scored(c, d)], model_version="tenant-v1"
    )
    event = AuditEvent.objects.get(action="mpi.candidates_proposed")
    assert event.details == {
        "offered": 2,
        "inserted": 2,
        "refreshed": 0,
        "skipped": 0,
        "certain": 0,
        "model_version": "tenant-v1",
        "source": "batch",
    }
    assert "smith" not in str(event.details).lower()


def test_summaries_add_up():
    one = ProposalSummary(offered=2, inserted=1, refreshed=1, skipped=0, certain=1)
    assert (one + one).to_dict() == {
        "offered": 4,
        "inserted": 2,
        "refreshed": 2,
        "skipped": 0,
        "certain": 2,
    }


def test_other_tenants_candidates_are_invisible(tenant):
    with tenant_scope(tenant.id):
        a, b = register(person("Smith", "Ann", None)), register(person("Smith", "Anne", None))
        match_candidates_propose(actor=None, pairs=[scored(a, b)], model_version="tenant-v1")
    other = make_tenant()
    with tenant_scope(other.id):
        assert MatchCandidate.objects.count() == 0
