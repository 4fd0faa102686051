"""Training task: EM on a generated population lands near the parameters the truth implies."""

from collections import Counter

import pytest

from mpi.models import MatchDecisionKind, MatchModel
from mpi.selectors.blocking import BLOCKING_RULES, BatchSlice, block_pairs, next_key_chunk
from mpi.selectors.models import current_match_parameters
from mpi.services.decisions import match_decision_record
from mpi.services.matching import placeholder_policy
from mpi.services.training import TrainingSettings, _levels, match_model_train
from mpi.tasks import match_model_train_task
from registration.services.bulk import patients_bulk_load
from registration.services.synthetic import synthetic_to_input
from registration.synthetic import generate
from tenancy.db import tenant_scope
from tenancy.errors import ValidationFailedError
from tenancy.models import AuditEvent
from tests.factories import make_tenant

SETTINGS = TrainingSettings(random_pairs=3000, candidate_pairs=20000)


def _load(tenant, count=1000):
    people = list(generate(count, seed=11, duplicate_rate=0.3, tenant_label=tenant.slug))
    patients_bulk_load(
        tenant_id=tenant.id, actor=None, records=(synthetic_to_input(p) for p in people)
    )
    return {p.record_id: p.person_id for p in people}


def _blocked_pairs(policy, *, loose=False):
    pairs = []
    for index, rule in enumerate(BLOCKING_RULES):
        chunk = next_key_chunk(
            rule, after=None, chunk_patients=10**6, batch_slice=BatchSlice(), policy=policy
        )
        if chunk:
            pairs += block_pairs(
                index,
                after=None,
                upto=chunk.upto,
                batch_slice=BatchSlice(),
                policy=policy,
                loose=loose,
            )
    return pairs


@pytest.mark.django_db
class TestTraining:
    @pytest.fixture
    def world(self):
        tenant = make_tenant()
        person_of = _load(tenant)
        return tenant, person_of

    def test_em_recovers_the_truths_parameters(self, world):
        tenant, person_of = world
        with tenant_scope(tenant.id):
            policy = placeholder_policy()
            pairs = _blocked_pairs(policy, loose=True)
            levels = list(_levels(pairs, policy))
            truth = [person_of[str(low)] == person_of[str(high)] for low, high in pairs]
            true_share = sum(truth) / len(truth)
            assert 0.2 < true_share < 0.95  # both classes are there for EM to separate
            model = match_model_train(actor=None, settings=SETTINGS)
            current = current_match_parameters()
        metrics = model.training_metrics
        assert (model.version, current.version) == (1, "tenant-v1")
        assert metrics["converged"] is True
        assert 1 < metrics["iterations"] < SETTINGS.max_iterations
        assert metrics["candidate_pairs"] == len(pairs)  # fewer than the sample size: all
        assert metrics["random_pairs"] == len(person_of) // 2  # every patient, paired once
        assert metrics["labels"] == {"duplicate": 0, "not_duplicate": 0}
        assert metrics["started_from"] == "default-1"
        # lambda: the share of true matches among the blocked pairs
        assert metrics["match_prior"] == pytest.approx(true_share, abs=0.08)
        # m of the decisive levels: how often true matches reach them
        matched = [lv for lv, is_match in zip(levels, truth, strict=True) if is_match]
        for field_name, level in (("family", "EXACT"), ("given", "EXACT"), ("birth_date", "EXACT")):
            observed = Counter(lv.get(field_name) for lv in matched if lv.get(field_name))
            true_m = observed[level] / sum(observed.values())
            assert current.fields[field_name].m[level] == pytest.approx(true_m, abs=0.12)
            assert current.fields[field_name].u[level] < current.fields[field_name].m[level]

    def test_decisions_are_blended_in_as_labels(self, world):
        tenant, person_of = world
        with tenant_scope(tenant.id):
            pairs = _blocked_pairs(placeholder_policy())
            same = next(p for p in pairs if person_of[str(p[0])] == person_of[str(p[1])])
            different = next(
                (a, b)
                for a, b in zip(sorted(person_of), sorted(person_of)[1:], strict=False)
                if person_of[a] != person_of[b]
            )
            for (low, high), verdict in (
                (same, MatchDecisionKind.DUPLICATE),
                (different, MatchDecisionKind.NOT_DUPLICATE),
            ):
                match_decision_record(
                    actor=None, patient_id=low, other_patient_id=high, decision=verdict
                )
            first = match_model_train(actor=None, settings=SETTINGS)
            second = match_model_train(actor=None, settings=SETTINGS)
            assert AuditEvent.objects.filter(action="mpi.match_model_created").count() == 2
        assert first.training_metrics["labels"] == {"duplicate": 1, "not_duplicate": 1}
        assert second.training_metrics["started_from"] == "tenant-v1"
        assert second.version == 2

    def test_a_tenant_without_patients_is_refused(self):
        tenant = make_tenant()
        with tenant_scope(tenant.id), pytest.raises(ValidationFailedError):
            match_model_train(actor=None)


def test_the_task_trains_through_a_worker(celery_worker):
    tenant = make_tenant()
    _load(tenant, count=200)
    version = match_model_train_task.apply_async(kwargs={"tenant_id": str(tenant.id)}).get(
        timeout=60
    )
    assert version == 1
    with tenant_scope(tenant.id):
        assert MatchModel.objects.get().training_metrics["converged"] is True
