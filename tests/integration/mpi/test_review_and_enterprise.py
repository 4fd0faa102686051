"""Review queue services and selectors, enterprise links and the golden record."""

import uuid
from datetime import date

import pytest

from mpi.matching.score import MatchGrade
from mpi.models import (
    BatchJob,
    CandidateGrade,
    CandidateSource,
    CandidateStatus,
    MatchCandidate,
    MatchDecision,
    MatchDecisionKind,
)
from mpi.selectors.enterprise import enterprise_person_get
from mpi.selectors.review import QueueFilter, candidate_get, candidate_next, candidate_queue
from mpi.services.candidates import ProposalSummary, ScoredPair, match_candidates_propose
from mpi.services.enterprise import (
    batch_chunk_auto_link,
    candidates_auto_link,
    enterprise_link_pair,
)
from mpi.services.matching import placeholder_policy
from mpi.services.merges import MergeRefusedError, patients_merge_preview, patients_unmerge
from mpi.services.review import (
    CandidateClosedError,
    candidate_claim,
    candidate_decide,
    candidate_reopen,
    candidates_decide_bulk,
)
from mpi.services.training import _labels
from registration.models import Patient, PatientLink
from registration.services.inputs import NameInput
from registration.services.patients import patient_deactivate
from tenancy.db import tenant_scope
from tenancy.errors import ConflictError, NotFoundError, ValidationFailedError
from tenancy.models import AuditEvent, Role
from tests.factories import make_tenant, make_user, principal_for
from tests.integration.mpi.test_merges import merge, record, register

TODAY = date(2026, 11, 29)
DUP = MatchDecisionKind.DUPLICATE
NOT_DUP = MatchDecisionKind.NOT_DUPLICATE


@pytest.fixture
def steward(db):
    tenant = make_tenant()
    actor = principal_for(make_user(tenant, Role.DATA_STEWARD), tenant, Role.DATA_STEWARD)
    with tenant_scope(tenant.id):
        yield actor


def propose(
    actor, a: Patient, b: Patient, probability: float = 0.9, grade: str = CandidateGrade.PROBABLE
) -> MatchCandidate:
    low, high = sorted((a.id, b.id))
    return MatchCandidate.objects.create(
        tenant_id=actor.tenant_id,
        patient_low_id=low,
        patient_high_id=high,
        probability=probability,
        weight=probability * 20,
        grade=grade,
        explanation=[{"field": "family", "level": "exact", "weight": 4.2}],
        model_version="default-1",
        source=CandidateSource.BATCH,
    )


class TestQueue:
    def test_sorted_by_probability_and_filtered(self, steward):
        young = register(steward, birth_date=date(2010, 5, 1), preferred_facility="north")
        old = register(steward, birth_date=date(1940, 5, 1))
        other = register(steward, birth_date=date(1980, 5, 1))
        low = propose(steward, young, old, 0.6, CandidateGrade.POSSIBLE)
        high = propose(steward, old, other, 0.97, CandidateGrade.CERTAIN)

        def ids(**criteria):
            return [c.id for c in candidate_queue(QueueFilter(**criteria), today=TODAY)]

        assert ids() == [high.id, low.id]
        assert ids(grade="possible") == [low.id]
        assert ids(facility="north") == [low.id]
        assert ids(max_age=20) == [low.id]
        assert ids(min_age=40, max_age=50) == [high.id]
        assert ids(min_age=90) == []
        candidate_claim(actor=steward, candidate_id=low.id)
        assert ids(assignee=steward.label) == [low.id]
        assert ids(assignee="-") == [high.id]
        assert ids(status="") == [high.id, low.id]
        assert candidate_next(after=high, criteria=QueueFilter(), today=TODAY) == low.id
        assert candidate_next(after=low, criteria=QueueFilter(), today=TODAY) == high.id
        pair = candidate_get(candidate_id=high.id)
        assert {pair.patient_low.id, pair.patient_high.id} == {old.id, other.id}
        with pytest.raises(NotFoundError):
            candidate_get(candidate_id=uuid.uuid4())


class TestDecisions:
    def test_decide_reopen_and_labels(self, steward):
        a, b = register(steward), register(steward)
        pair = propose(steward, a, b)
        with pytest.raises(ValidationFailedError):
            candidate_decide(actor=steward, candidate_id=pair.id, decision=NOT_DUP)
        candidate_decide(actor=steward, candidate_id=pair.id, decision=NOT_DUP, reason="twins")
        pair.refresh_from_db()
        assert (pair.status, pair.reason, pair.decided_by) == (
            CandidateStatus.NOT_DUPLICATE,
            "twins",
            steward.label,
        )
        assert MatchDecision.objects.get().decision == "not_duplicate"
        with pytest.raises(CandidateClosedError):
            candidate_decide(actor=steward, candidate_id=pair.id, decision=DUP)
        with pytest.raises(CandidateClosedError):
            candidate_claim(actor=steward, candidate_id=pair.id)
        candidate_reopen(actor=steward, candidate_id=pair.id, reason="new evidence")
        pair.refresh_from_db()
        assert pair.status == CandidateStatus.OPEN
        assert not MatchDecision.objects.exists()
        with pytest.raises(CandidateClosedError):
            candidate_reopen(actor=steward, candidate_id=pair.id, reason="again")
        candidate_decide(actor=steward, candidate_id=pair.id, decision=DUP)
        assert MatchDecision.objects.get().decision == "duplicate"
        actions = list(
            AuditEvent.objects.filter(object_type="match_candidate")
            .order_by("id")
            .values_list("action", flat=True)
        )
        assert actions == [
            "mpi.candidate_decided",
            "mpi.candidate_reopened",
            "mpi.candidate_decided",
        ]

    def test_bulk_is_all_or_nothing(self, steward):
        a, b, c = register(steward), register(steward), register(steward)
        first, second = propose(steward, a, b), propose(steward, a, c)
        candidate_decide(actor=steward, candidate_id=second.id, decision=DUP)
        with pytest.raises(CandidateClosedError):
            candidates_decide_bulk(actor=steward, candidate_ids=[first.id, second.id], decision=DUP)
        first.refresh_from_db()
        assert first.status == CandidateStatus.OPEN
        with pytest.raises(ValidationFailedError):
            candidates_decide_bulk(actor=steward, candidate_ids=[], decision=DUP)
        with pytest.raises(NotFoundError):
            candidates_decide_bulk(actor=steward, candidate_ids=[uuid.uuid4()], decision=DUP)
        done = candidates_decide_bulk(
            actor=steward, candidate_ids=[first.id], decision=NOT_DUP, reason="different"
        )
        assert [c.status for c in done] == [CandidateStatus.NOT_DUPLICATE]

    def test_claim_assign_release(self, steward):
        a, b = register(steward), register(steward)
        pair = propose(steward, a, b)
        assert candidate_claim(actor=steward, candidate_id=pair.id).assignee == steward.label
        assert candidate_claim(
            actor=steward, candidate_id=pair.id, assignee="user:99"
        ).assignee == ("user:99")
        released = candidate_claim(actor=steward, candidate_id=pair.id, assignee="")
        assert (released.assignee, released.assigned_at) == ("", None)
        with pytest.raises(ValidationFailedError):
            candidate_claim(actor=steward, candidate_id=pair.id, assignee="x" * 65)
        with pytest.raises(NotFoundError):
            candidate_claim(actor=steward, candidate_id=uuid.uuid4())


class TestFinality:
    """Decisions stay final until a steward reopens the pair; merges respect them."""

    def test_a_pair_decided_apart_cannot_be_merged_until_reopened(self, steward):
        a, b = register(steward), register(steward)
        pair = propose(steward, a, b)
        candidate_decide(actor=steward, candidate_id=pair.id, decision=NOT_DUP, reason="twins")
        with pytest.raises(MergeRefusedError, match="different people"):
            merge(steward, a, b)
        assert Patient.objects.get(id=b.id).active is True
        # The preview still shows what a merge would do (it decides nothing).
        assert patients_merge_preview(survivor_id=a.id, subsumed_id=b.id).record
        candidate_reopen(actor=steward, candidate_id=pair.id, reason="new evidence")
        done = merge(steward, a, b)
        pair.refresh_from_db()
        assert (pair.status, done.candidate_id) == (CandidateStatus.MERGED, pair.id)
        assert MatchDecision.objects.get().decision == DUP

    def test_merging_a_pair_decided_duplicate_keeps_the_stewards_label(self, steward):
        a, b = register(steward), register(steward)
        pair = propose(steward, a, b)
        candidate_decide(actor=steward, candidate_id=pair.id, decision=DUP, reason="same MRN")
        merge(steward, a, b, reason="merging the decided pair")
        pair.refresh_from_db()
        assert pair.status == CandidateStatus.MERGED
        label = MatchDecision.objects.get()
        assert (label.decision, label.reason) == (DUP, "same MRN")

    def test_unmerge_reopens_nothing_and_the_steward_reopens_deliberately(self, steward):
        a, b, c = register(steward), register(steward), register(steward)
        pair, other = propose(steward, a, b), propose(steward, b, c)
        done = merge(steward, a, b)
        for closed in (pair, other):
            with pytest.raises(CandidateClosedError, match="undo the merge first"):
                candidate_reopen(actor=steward, candidate_id=closed.id, reason="recheck")
        patients_unmerge(actor=steward, merge_id=done.id, reason="twins after all")
        pair.refresh_from_db()
        other.refresh_from_db()
        assert (pair.status, other.status) == (CandidateStatus.MERGED, CandidateStatus.SUPERSEDED)
        assert MatchDecision.objects.get().decision == DUP  # the label the merge wrote
        candidate_reopen(actor=steward, candidate_id=pair.id, reason="undone: decide again")
        candidate_reopen(actor=steward, candidate_id=other.id, reason="b is back")
        pair.refresh_from_db()
        other.refresh_from_db()
        assert (pair.status, other.status) == (CandidateStatus.OPEN, CandidateStatus.OPEN)
        assert not MatchDecision.objects.exists()  # the merge's label withdrawn with it
        with pytest.raises(CandidateClosedError, match="Only decided"):
            candidate_reopen(actor=steward, candidate_id=pair.id, reason="again")
        candidate_decide(actor=steward, candidate_id=pair.id, decision=NOT_DUP, reason="twins")
        assert MatchDecision.objects.get().decision == NOT_DUP

    def test_queue_decisions_are_the_training_labels(self, steward):
        a, b, c = register(steward), register(steward), register(steward)
        same, apart = propose(steward, a, b), propose(steward, a, c)
        candidates_decide_bulk(actor=steward, candidate_ids=[same.id], decision=DUP)
        candidate_decide(actor=steward, candidate_id=apart.id, decision=NOT_DUP, reason="twins")
        policy = placeholder_policy()
        assert sorted(label.is_duplicate for label in _labels(policy)) == [False, True]
        candidate_reopen(actor=steward, candidate_id=apart.id, reason="recheck")
        assert [label.is_duplicate for label in _labels(policy)] == [True]


class TestEnterprise:
    def test_every_patient_has_its_own_euid_and_links_join_groups(self, steward):
        a, b, c = register(steward), register(steward), register(steward)
        euids = {p.enterprise_id for p in Patient.objects.all()}
        assert len(euids) == 3
        euid = enterprise_link_pair(
            actor=steward, patient_id=a.id, other_patient_id=b.id, source="steward"
        )
        enterprise_link_pair(
            actor=steward, patient_id=c.id, other_patient_id=b.id, source="steward"
        )
        assert {p.enterprise_id for p in Patient.objects.all()} == {c.enterprise_id}
        assert euid == a.enterprise_id
        assert (
            enterprise_link_pair(
                actor=steward, patient_id=a.id, other_patient_id=c.id, source="steward"
            )
            == c.enterprise_id
        )
        assert PatientLink.objects.filter(type="seealso").count() == 4
        with pytest.raises(ValidationFailedError):
            enterprise_link_pair(actor=steward, patient_id=a.id, other_patient_id=a.id, source="x")
        with pytest.raises(ValidationFailedError):
            enterprise_link_pair(actor=steward, patient_id=a.id, other_patient_id=b.id, source="x")
        with pytest.raises(NotFoundError):
            enterprise_link_pair(
                actor=steward, patient_id=a.id, other_patient_id=uuid.uuid4(), source="steward"
            )

    def test_euid_survives_a_merge_and_unmerge_gives_it_back(self, steward):
        a, b, linked = register(steward), register(steward), register(steward)
        enterprise_link_pair(
            actor=steward, patient_id=b.id, other_patient_id=linked.id, source="steward"
        )
        b_euid = Patient.objects.get(id=b.id).enterprise_id
        done = merge(steward, a, b)
        assert {p.enterprise_id for p in Patient.objects.all()} == {a.enterprise_id}
        patients_unmerge(actor=steward, merge_id=done.id, reason="wrong")
        assert Patient.objects.get(id=b.id).enterprise_id == b_euid
        assert Patient.objects.get(id=linked.id).enterprise_id == b_euid
        assert Patient.objects.get(id=a.id).enterprise_id == a.enterprise_id

    def test_auto_link_links_open_certain_pairs_only(self, steward):
        a, b, c, d, e = (register(steward) for _ in range(5))
        certain = propose(steward, a, b, 0.99, CandidateGrade.CERTAIN)
        probable = propose(steward, c, d, 0.9, CandidateGrade.PROBABLE)
        inactive = propose(steward, d, e, 0.99, CandidateGrade.CERTAIN)
        patient_deactivate(actor=steward, patient_id=e.id, expected_version=1, reason="test")
        assert candidates_auto_link(actor=None) == 1
        assert candidates_auto_link(actor=None) == 0
        for pair in (certain, probable, inactive):
            pair.refresh_from_db()
        assert (certain.auto_linked, certain.status) == (True, CandidateStatus.OPEN)
        assert not probable.auto_linked
        assert not inactive.auto_linked
        assert (
            Patient.objects.get(id=a.id).enterprise_id == Patient.objects.get(id=b.id).enterprise_id
        )
        other = propose(steward, c, e, 0.99, CandidateGrade.CERTAIN)
        assert candidates_auto_link(actor=None, candidate_ids=[other.id, probable.id]) == 0
        assert candidates_auto_link(actor=None, candidate_ids=[]) == 0

    def test_the_batch_chunk_hook_links_only_that_chunks_certain_pairs(self, steward):
        a, b, c, d = (register(steward) for _ in range(4))
        mine = propose(steward, a, b, 0.99, CandidateGrade.CERTAIN)
        other = propose(steward, c, d, 0.99, CandidateGrade.CERTAIN)
        batch_chunk_auto_link(BatchJob(), ProposalSummary())  # a chunk without CERTAIN pairs
        chunk = ProposalSummary(
            certain=1,
            certain_ids=(mine.id,),
            certain_unlinked=((mine.id, mine.patient_low_id, mine.patient_high_id),),
        )
        batch_chunk_auto_link(BatchJob(), chunk)
        mine.refresh_from_db()
        other.refresh_from_db()
        assert (mine.auto_linked, other.auto_linked) == (True, False)
        euids = dict(Patient.objects.values_list("id", "enterprise_id"))
        assert euids[a.id] == euids[b.id]
        assert euids[c.id] != euids[d.id]

        # A chunk's proposal returns its CERTAIN rows; the hook links those as returned.
        def propose_c_and_d():
            certain = ScoredPair(
                patient_id=c.id,
                other_patient_id=d.id,
                probability=0.9999,
                weight=30.0,
                grade=MatchGrade.CERTAIN,
                explanation=(),
            )
            return match_candidates_propose(actor=None, pairs=[certain], model_version="default-1")

        proposed = propose_c_and_d()
        assert [row[0] for row in proposed.certain_unlinked] == [other.id]
        batch_chunk_auto_link(BatchJob(), proposed)
        other.refresh_from_db()
        assert other.auto_linked
        assert (
            Patient.objects.get(id=c.id).enterprise_id == Patient.objects.get(id=d.id).enterprise_id
        )
        # a refreshed pair already linked is not linked again
        again = propose_c_and_d()
        assert (again.certain_ids, again.certain_unlinked) == ((other.id,), ())

    def test_auto_link_joins_chained_groups_as_pair_by_pair_linking_would(self, steward):
        a, b, c, d, e = sorted((register(steward) for _ in range(5)), key=lambda p: p.id)
        # d and e are already one group; the pairs chain a-b, b-c, c-d and repeat a-c.
        enterprise_link_pair(actor=None, patient_id=d.id, other_patient_id=e.id, source="steward")
        for left, right in ((a, b), (b, c), (c, d), (a, c)):
            propose(steward, left, right, 0.99, CandidateGrade.CERTAIN)
        assert candidates_auto_link(actor=None) == 4
        assert {p.enterprise_id for p in Patient.objects.all()} == {a.enterprise_id}
        audits = {
            (row.object_id, row.details["other_patient_id"]): row.details
            for row in AuditEvent.objects.filter(
                action="patient.enterprise_linked", details__source="auto"
            )
        }
        # Pairs go in (low, high) order: a-b, a-c, b-c, c-d; by b-c, b and c are one group
        # already: nothing to link, no audit row.
        assert set(audits) == {
            (str(a.id), str(b.id)),
            (str(a.id), str(c.id)),
            (str(c.id), str(d.id)),
        }
        assert audits[(str(a.id), str(b.id))]["records_moved"] == 1
        assert audits[(str(c.id), str(d.id))]["records_moved"] == 2  # d's group: d and e
        assert audits[(str(c.id), str(d.id))]["previous_enterprise_id"] == str(d.enterprise_id)
        assert {row["enterprise_id"] for row in audits.values()} == {str(a.enterprise_id)}
        assert PatientLink.objects.filter(type="seealso").count() == 2 + 2 * 3

    def test_golden_record_from_linked_records(self, steward):
        a = register(steward, language="", marital_status="M")
        b = register(
            steward,
            data=record(names=(NameInput(family="Okafor", given=("Ada",)),), language="fr"),
        )
        patient_deactivate(actor=steward, patient_id=b.id, expected_version=1, reason="x")
        with pytest.raises(ConflictError):  # only active records are linked
            enterprise_link_pair(
                actor=steward, patient_id=a.id, other_patient_id=b.id, source="steward"
            )
        b = register(steward, language="fr", birth_date=date(1987, 3, 15))
        euid = enterprise_link_pair(
            actor=steward, patient_id=a.id, other_patient_id=b.id, source="steward"
        )
        person = enterprise_person_get(euid=euid)
        assert {p.id for p in person.records} >= {a.id, b.id}
        assert person.golden.language == "fr"
        assert person.golden.marital_status == "M"
        assert person.golden.birth_date == date(1987, 3, 15)  # most recent record wins
        assert len(person.golden.identifiers) == 2
        with pytest.raises(NotFoundError):
            enterprise_person_get(euid=uuid.uuid4())
