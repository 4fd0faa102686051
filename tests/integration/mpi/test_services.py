"""The MPI's writes: model versions, steward decisions, name-frequency refresh; each audited."""

import uuid
from dataclasses import replace

import pytest
from django.utils import timezone

from mpi.matching.model import default_parameters
from mpi.models import MatchDecision, MatchDecisionKind, MatchModel, NameFrequency
from mpi.selectors.frequencies import MIN_COUNTED_PATIENTS, term_frequency_lookup
from mpi.selectors.models import current_match_parameters
from mpi.services.decisions import match_decision_record
from mpi.services.frequencies import name_frequencies_refresh
from mpi.services.models import match_model_create
from registration.services.patients import patient_deactivate
from tenancy.db import tenant_scope
from tenancy.errors import ConflictError, NotFoundError, ValidationFailedError
from tenancy.models import AuditEvent
from tests.factories import make_tenant
from tests.integration.mpi.conftest import person, register

pytestmark = pytest.mark.django_db


class TestModels:
    def test_versions_count_up_and_the_newest_is_current(self, scope):
        assert current_match_parameters() == default_parameters()
        tuned = replace(default_parameters(), match_prior=0.01)
        first = match_model_create(actor=None, parameters=default_parameters())
        second = match_model_create(actor=None, parameters=tuned, training_metrics={"pairs": 7})
        assert [m.version for m in MatchModel.objects.order_by("version")] == [1, 2]
        current = current_match_parameters()
        assert (current.version, current.match_prior) == ("tenant-v2", 0.01)
        assert current_match_parameters() is current  # parsed once per model row
        assert second.training_metrics == {"pairs": 7}
        assert str(first) == "Match model v1"
        assert AuditEvent.objects.filter(action="mpi.match_model_created").count() == 2

    def test_each_tenant_has_its_own_versions(self, tenant):
        other = make_tenant()
        with tenant_scope(other.id):
            match_model_create(actor=None, parameters=default_parameters())
        with tenant_scope(tenant.id):
            assert current_match_parameters().version == "default-1"
            assert match_model_create(actor=None, parameters=default_parameters()).version == 1


class TestDecisions:
    def test_a_pair_is_stored_once_in_canonical_order(self, scope):
        a, b = register(person("Smith", "John", None)), register(person("Smith", "Jon", None))
        decision = match_decision_record(
            actor=None, patient_id=b.id, other_patient_id=a.id, decision=MatchDecisionKind.DUPLICATE
        )
        low, high = sorted((a.id, b.id))
        assert (decision.patient_low_id, decision.patient_high_id) == (low, high)
        assert "duplicate" in str(decision)
        with pytest.raises(ConflictError):
            match_decision_record(
                actor=None,
                patient_id=a.id,
                other_patient_id=b.id,
                decision=MatchDecisionKind.NOT_DUPLICATE,
            )
        event = AuditEvent.objects.get(action="mpi.match_decided")
        assert event.details == {"other_patient_id": str(high), "decision": "duplicate"}
        assert MatchDecision.objects.count() == 1

    def test_refused_pairs(self, scope):
        a = register(person("Smith", "John", None))
        with pytest.raises(ValidationFailedError):
            match_decision_record(
                actor=None,
                patient_id=a.id,
                other_patient_id=a.id,
                decision=MatchDecisionKind.DUPLICATE,
            )
        with pytest.raises(NotFoundError):
            match_decision_record(
                actor=None,
                patient_id=a.id,
                other_patient_id=uuid.uuid4(),
                decision=MatchDecisionKind.DUPLICATE,
            )


class TestNameFrequencies:
    def test_refresh_counts_active_patients_per_name_key(self, scope):
        for given in ("Ann", "Bea", "Cy"):
            register(person("Van der Berg", given, None))
        register(person("Smith", "Ann", None))
        gone = register(person("Smith", "Dee", None))
        patient_deactivate(actor=None, patient_id=gone.id, expected_version=1, reason="merged")
        assert name_frequencies_refresh(actor=None) == 2 + 3 + 2  # names + one total per field
        counts = {(r.field, r.value): r.patients for r in NameFrequency.objects.all()}
        assert counts[("family", "vanderberg")] == 3
        assert counts[("family", "smith")] == 1
        assert counts[("given", "ann")] == 2
        assert counts[("family", "")] == counts[("given", "")] == 4
        assert ("given", "dee") not in counts
        assert name_frequencies_refresh(actor=None) == 7  # replaced, not appended
        assert AuditEvent.objects.filter(action="mpi.name_frequencies_refreshed").count() == 2

    def test_small_tenants_get_no_term_frequencies(self, scope):
        register(person("Smith", "Ann", None))
        name_frequencies_refresh(actor=None)
        assert term_frequency_lookup(family=["smith"], given=["ann"]) is None

    def test_lookup_reads_only_the_names_asked_for(self, scope, django_assert_num_queries):
        now = timezone.now()
        NameFrequency.objects.bulk_create(
            NameFrequency(
                tenant_id=scope.id, field=field, value=value, patients=n, refreshed_at=now
            )
            for field, value, n in (
                ("family", "", MIN_COUNTED_PATIENTS * 2),
                ("given", "", MIN_COUNTED_PATIENTS * 2),
                ("family", "vanderberg", 20),
                ("given", "ann", 200),
            )
        )
        with django_assert_num_queries(1):
            lookup = term_frequency_lookup(family=["van der berg", None], given=["ann"])
        assert lookup is not None
        assert lookup("family", "van der berg") == 0.01
        assert lookup("given", "ann") == 0.1
        assert lookup("family", "okafor") is None


def test_the_refresh_task_runs_in_the_tenants_scope(tenant):
    from mpi.tasks import name_frequencies_refresh_task

    with tenant_scope(tenant.id):
        register(person("Smith", "Ann", None))
    rows = name_frequencies_refresh_task.apply(kwargs={"tenant_id": str(tenant.id)}).get()
    assert rows == 4
    with tenant_scope(tenant.id):
        assert NameFrequency.objects.count() == 4
