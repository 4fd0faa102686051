"""Batch deduplication: blocking in PostgreSQL, chunked commits, resume, cancel, progress."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

import mpi.services.batch as batch_service
from mpi.models import BatchChunk, BatchJob, BatchJobStatus, MatchCandidate, MatchDecisionKind
from mpi.selectors.blocking import (
    BLOCKING_RULES,
    MAX_TELECOM_SHARING,
    BatchSlice,
    block_pairs,
    blocked_patient_count,
    plan_key_chunks,
)
from mpi.selectors.models import current_match_parameters
from mpi.services.batch import (
    batch_job_cancel,
    batch_job_request,
    batch_job_resume,
    batch_job_run,
    register_batch_chunk_hook,
    score_pairs,
    unregister_batch_chunk_hook,
)
from mpi.services.decisions import match_decision_record
from mpi.services.matching import placeholder_policy
from registration.models import Patient
from registration.services.vital_status import DeathDate, vital_status_record_death
from tenancy.db import tenant_scope
from tenancy.errors import ConflictError, NotFoundError, ValidationFailedError
from tenancy.models import AuditEvent
from tests.factories import make_tenant
from tests.integration.mpi.conftest import person, register


class WorkerKilled(BaseException):
    """Raised by the test hook to stop a run the way a killed worker does: nothing recorded."""


@pytest.fixture
def tenant(committed_db):
    return make_tenant()


def _population():
    """Duplicates each rule should find, strangers, and placeholder-named patients."""
    people = {
        # phonetic_family_year: a spelling variant
        "smith": person("Smith", "John", date(1980, 3, 4), phone="555-0101"),
        "smyth": person("Smyth", "John", date(1980, 3, 4), phone="555-0101"),
        # phonetic_given_birth_date: a family name change
        "jones": person("Jones", "Mary", date(1975, 6, 7), line="1 High St", postal_code="02139"),
        "brown": person("Brown", "Mary", date(1975, 6, 7), line="1 High St", postal_code="02139"),
        # phonetic_names_month_day: a mistyped birth year
        "garcia": person("Garcia", "Maria", date(1990, 1, 2), email="mg@example.org"),
        "garcia2": person("Garcia", "Maria", date(1991, 1, 2), email="mg@example.org"),
        # placeholders: never block each other
        "baby1": person("Unknown", "Baby", date(2024, 5, 1), gender="male"),
        "baby2": person("Unknown", "Baby", date(2024, 5, 1), gender="male"),
    }
    strangers = [
        ("Okafor", "Chidi"),
        ("Nguyen", "Linh"),
        ("Schmidt", "Hans"),
        ("Rossi", "Luca"),
        ("Kowalski", "Jan"),
        ("Tanaka", "Yuki"),
        ("Dubois", "Claire"),
        ("Silva", "Ana"),
        ("Smithers", "Paul"),
        ("Johnson", "Mary"),
    ]
    for index, (family, given) in enumerate(strangers):
        people[family.lower()] = person(family, given, date(1960 + index, index + 1, 10 + index))
    return {key: register(data) for key, data in people.items()}


@pytest.fixture
def population(tenant):
    with tenant_scope(tenant.id):
        return _population()


def _pair(a, b):
    return tuple(sorted((a.id, b.id)))


def _candidate_pairs(tenant):
    with tenant_scope(tenant.id):
        return {
            (row.patient_low_id, row.patient_high_id): row for row in MatchCandidate.objects.all()
        }


def _reference(tenant):
    """Every blocked pair (one chunk per rule) and the proposals scoring them gives."""
    with tenant_scope(tenant.id):
        policy = placeholder_policy()
        pairs = []
        for index in range(len(BLOCKING_RULES)):
            chunks = plan_key_chunks(
                index, after=None, chunk_patients=10**6, batch_slice=BatchSlice(), policy=policy
            )
            assert len(chunks) <= 1
            for chunk in chunks:
                pairs += block_pairs(
                    index, after=None, upto=chunk.upto, batch_slice=BatchSlice(), policy=policy
                )
        scored = score_pairs(pairs, parameters=current_match_parameters(), policy=policy)
    return pairs, {(s.patient_id, s.other_patient_id) for s in scored if s.grade != "CERTAINLY_NOT"}


def _request(tenant, **slice_years):
    with tenant_scope(tenant.id):
        return batch_job_request(actor=None, **slice_years)


class TestBlocking:
    def test_each_rule_finds_its_duplicates_and_every_pair_comes_once(self, tenant, population):
        pairs, _ = _reference(tenant)
        assert len(pairs) == len(set(pairs))
        assert _pair(population["smith"], population["smyth"]) in pairs
        assert _pair(population["jones"], population["brown"]) in pairs
        assert _pair(population["garcia"], population["garcia2"]) in pairs
        assert _pair(population["baby1"], population["baby2"]) not in pairs
        assert all(low < high for low, high in pairs)

    def test_counts_leave_placeholders_out(self, tenant, population):
        with tenant_scope(tenant.id):
            counts = [
                blocked_patient_count(rule, BatchSlice(), placeholder_policy())
                for rule in BLOCKING_RULES
            ]
        # 18 patients; the two "Unknown Baby" ones take part in no name rule; the telecom rule
        # counts the four with a phone or an e-mail (smith, smyth, garcia, garcia2).
        assert counts == [16, 16, 16, 16, 16, 4]


class TestCommonNameRule:
    """`phonetic_family_year` asks for more than a shared surname sound and birth year: the
    same birth date, or a given name alike and a birth date one mistake away. Namesakes of a
    year would otherwise pair with each other, and their pairs grow with the square of the
    tenant (1.7 million of them at a million patients)."""

    @pytest.fixture
    def people(self, tenant):
        data = {
            # a nickname (another initial and sound), the same birth date
            "william": person("Smith", "William", date(1980, 5, 5)),
            "bill": person("Smith", "Bill", date(1980, 5, 5)),
            # a mistyped given name (same initial) and a mistyped birth day (same month)
            "ann": person("Smith", "Ann", date(1980, 3, 4)),
            "anna": person("Smyth", "Anah", date(1980, 3, 9)),
            # day and month swapped
            "jane1": person("Smith", "Jane", date(1980, 4, 11)),
            "jane2": person("Smith", "Jane", date(1980, 11, 4)),
            # namesakes of a year: one initial, another month and day
            "john": person("Smith", "John", date(1980, 1, 15)),
            "james": person("Smith", "James", date(1980, 7, 22)),
            # a birth year's last two digits swapped (phonetic_names_month_day)
            "kim1": person("Kim", "Joon", date(1989, 2, 3)),
            "kim2": person("Kim", "Joon", date(1998, 2, 3)),
            # namesakes born on one day and month of years far apart
            "lee1": person("Lee", "Min", date(1950, 6, 1)),
            "lee2": person("Lee", "Min", date(1987, 6, 1)),
        }
        with tenant_scope(tenant.id):
            return {key: register(value) for key, value in data.items()}

    def _rule_pairs(self, tenant):
        with tenant_scope(tenant.id):
            policy = placeholder_policy()
            (chunk,) = plan_key_chunks(
                0, after=None, chunk_patients=10**6, batch_slice=BatchSlice(), policy=policy
            )
            return set(
                block_pairs(0, after=None, upto=chunk.upto, batch_slice=BatchSlice(), policy=policy)
            )

    def test_the_same_birth_date_or_a_close_one_with_a_like_given_name_pairs(self, tenant, people):
        pairs = self._rule_pairs(tenant)
        for left, right in (("william", "bill"), ("ann", "anna"), ("jane1", "jane2")):
            assert _pair(people[left], people[right]) in pairs, (left, right)

    def test_namesakes_of_a_year_with_another_month_and_day_do_not(self, tenant, people):
        assert _pair(people["john"], people["james"]) not in self._rule_pairs(tenant)
        all_pairs, _ = _reference(tenant)
        assert _pair(people["john"], people["james"]) not in all_pairs
        # and a pair the rule takes is otherwise alike: nothing but the surname and year
        assert _pair(people["william"], people["james"]) not in all_pairs

    def test_a_mistyped_birth_year_pairs_and_another_year_does_not(self, tenant, people):
        all_pairs, _ = _reference(tenant)
        assert _pair(people["kim1"], people["kim2"]) in all_pairs
        assert _pair(people["lee1"], people["lee2"]) not in all_pairs


class TestRecallRules:
    """The rules for what the phonetic-key rules miss: swapped names, a missing birth date,
    a shared phone or e-mail (placeholders and widely shared numbers left out)."""

    @pytest.fixture
    def people(self, tenant):
        clinic = "617-555-0199"
        data = {
            # family and given swapped, birth day and month swapped
            "swap1": person("Valadez", "Florencia", date(2005, 4, 7)),
            "swap2": person("Florencia", "Valadez", date(2005, 7, 4)),
            # no birth date on one side
            "nobd1": person("Sarma", "Lavanya", None),
            "nobd2": person("Sarma", "Lavanya", date(1981, 2, 3)),
            # typos in both names and another birth month: only the phone and e-mail join them
            "tel1": person(
                "Hopkins", "Bobby", date(1992, 9, 19), phone="617-555-0142", email="bh@x.org"
            ),
            "tel2": person(
                "Hpokins", "Robert", date(1992, 3, 19), phone="617-555-0142", email="bh@x.org"
            ),
            # a household: one phone, nothing else in common
            "home1": person("Okafor", "Chidi", date(1960, 1, 10), phone="617-555-0177"),
            "home2": person("Okafor", "Ada", date(1990, 6, 20), phone="617-555-0177"),
            # placeholder phone, same birth year: never blocks
            "ph1": person("Rossi", "Luca", date(1970, 5, 5), phone="555-555-5555"),
            "ph2": person("Tanaka", "Yuki", date(1970, 8, 8), phone="555-555-5555"),
        }
        # a clinic's number on more rows than MAX_TELECOM_SHARING: never blocks
        for index in range(MAX_TELECOM_SHARING + 1):
            data[f"clinic{index}"] = person(
                f"Patient{chr(65 + index % 26)}{index}x",
                f"Given{chr(65 + index % 26)}q",
                date(1950 + index, 1 + index % 12, 1 + index),
                phone=clinic,
            )
        with tenant_scope(tenant.id):
            return {key: register(value) for key, value in data.items()}

    def test_each_recall_rule_finds_its_pair_once_and_nothing_more(self, tenant, people):
        pairs, _ = _reference(tenant)
        assert len(pairs) == len(set(pairs))
        for left, right in (("swap1", "swap2"), ("nobd1", "nobd2"), ("tel1", "tel2")):
            assert _pair(people[left], people[right]) in pairs, (left, right)
        assert _pair(people["home1"], people["home2"]) not in pairs
        assert _pair(people["ph1"], people["ph2"]) not in pairs
        clinic = {people[key].id for key in people if key.startswith("clinic")}
        assert not [pair for pair in pairs if set(pair) <= clinic]

    def test_a_batch_proposes_them_and_auto_links_none_it_should_not(self, tenant, people):
        job = batch_job_run(tenant_id=tenant.id, job_id=_request(tenant).id, chunk_patients=4)
        stored = _candidate_pairs(tenant)
        assert job.status == BatchJobStatus.SUCCEEDED
        assert job.checkpoint["telecom_values_left_out"] == 1  # the clinic's number
        for left, right in (("swap1", "swap2"), ("nobd1", "nobd2"), ("tel1", "tel2")):
            assert _pair(people[left], people[right]) in stored, (left, right)
        assert job.proposals["refreshed"] == 0


class TestRun:
    def test_a_whole_tenant_run_proposes_the_duplicates(self, tenant, population):
        _, expected = _reference(tenant)
        job = _request(tenant)
        job = batch_job_run(tenant_id=tenant.id, job_id=job.id, chunk_patients=3)
        assert job.status == BatchJobStatus.SUCCEEDED
        assert job.done == job.total == 5 * 16 + 4
        assert job.progress == 1.0
        assert job.pairs_per_second > 0
        with tenant_scope(tenant.id):
            planned = list(BatchChunk.objects.filter(job=job).order_by("position"))
        assert job.checkpoint == {
            "rule": 0,
            "after": None,
            "planned": len(planned),
            "telecom_values_left_out": 0,
        }
        assert job.chunks == len(planned)
        assert all(chunk.done for chunk in planned)
        assert sum(chunk.pairs_scored for chunk in planned) == job.pairs_scored
        stored = _candidate_pairs(tenant)
        assert set(stored) == expected
        for key in ("smith", "jones", "garcia"):
            other = {"smith": "smyth", "jones": "brown", "garcia": "garcia2"}[key]
            assert _pair(population[key], population[other]) in stored
        row = stored[_pair(population["smith"], population["smyth"])]
        assert row.model_version == "default-1"
        assert row.explanation
        with tenant_scope(tenant.id):
            audits = list(AuditEvent.objects.filter(action="mpi.candidates_proposed"))
            assert sum(a.details["inserted"] for a in audits) == len(stored)
            assert AuditEvent.objects.filter(action="mpi.batch_succeeded").count() == 1
        assert job.proposals["inserted"] == len(stored)

    def test_a_killed_run_resumes_without_losing_or_rescoring_a_pair(self, tenant, population):
        pairs, expected = _reference(tenant)
        job = _request(tenant)

        def kill_at_3(running):
            if running.chunks == 3:
                raise WorkerKilled

        with pytest.raises(WorkerKilled):
            batch_job_run(
                tenant_id=tenant.id,
                job_id=job.id,
                chunk_patients=3,
                after_chunk=kill_at_3,
            )
        with tenant_scope(tenant.id):
            crashed = BatchJob.objects.get(id=job.id)
        # The third chunk rolled back with its checkpoint; two chunks stand.
        assert (crashed.status, crashed.chunks) == (BatchJobStatus.RUNNING, 2)
        assert 0 < crashed.done < crashed.total
        assert 0 < crashed.progress < 1
        job = batch_job_run(tenant_id=tenant.id, job_id=job.id, chunk_patients=3)
        assert job.status == BatchJobStatus.SUCCEEDED
        assert job.pairs_scored == len(pairs)
        assert job.done == job.total
        assert set(_candidate_pairs(tenant)) == expected
        assert job.proposals["offered"] == len(expected)  # each pair proposed exactly once

    def test_a_runner_process_killed_by_sigkill_loses_and_rescores_no_pair(
        self, tenant, population, tmp_path
    ):
        """A real runner process dies mid-chunk (SIGKILL: no exception, no cleanup). PostgreSQL
        rolls its open chunk back and frees the chunk's lock; the next runner scores the rest."""
        pairs, expected = _reference(tenant)
        job = _request(tenant)
        marker = tmp_path / "in-second-chunk"
        # The app role's URL as configured, pointed at this test database.
        app_url = urlsplit(os.environ["DATABASE_URL"])
        env = {
            **os.environ,
            "DATABASE_URL": urlunsplit(
                app_url._replace(path=f"/{connection.settings_dict['NAME']}")
            ),
            "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
        }
        runner = subprocess.Popen(  # noqa: S603 - this repository's own runner module
            [
                sys.executable,
                "-m",
                "tests.integration.mpi.killable_runner",
                str(tenant.id),
                str(job.id),
                "3",
                str(marker),
            ],
            env=env,
            cwd=Path(__file__).resolve().parents[3],
        )
        try:
            for _ in range(600):
                if marker.exists() or runner.poll() is not None:
                    break
                time.sleep(0.1)
            assert marker.exists(), "the runner never reached its second chunk"
            with tenant_scope(tenant.id):
                # The second chunk's writes are made but not committed: invisible here.
                assert BatchChunk.objects.filter(job_id=job.id, done=True).count() == 1
        finally:
            runner.send_signal(signal.SIGKILL)
            runner.wait(timeout=30)
        assert runner.returncode == -signal.SIGKILL
        with tenant_scope(tenant.id):
            killed = BatchJob.objects.get(id=job.id)
            first = BatchChunk.objects.get(job_id=job.id, done=True)
        # Killed outright, the job still reads running, with the one committed chunk counted.
        assert (killed.status, killed.chunks) == (BatchJobStatus.RUNNING, 1)
        assert killed.pairs_scored == first.pairs_scored
        assert set(_candidate_pairs(tenant)) <= expected
        # Running the task again (the worker's redelivery) finishes it: every pair once.
        job = batch_job_run(tenant_id=tenant.id, job_id=job.id, chunk_patients=3)
        assert job.status == BatchJobStatus.SUCCEEDED
        assert job.pairs_scored == len(pairs)
        assert job.done == job.total
        assert set(_candidate_pairs(tenant)) == expected
        assert job.proposals["offered"] == job.proposals["inserted"] == len(expected)

    def test_a_failed_run_is_recorded_and_resumed_on_request(self, tenant, population):
        pairs, expected = _reference(tenant)
        job = _request(tenant)

        def fail_at_2(running):
            if running.chunks == 2:
                raise RuntimeError("boom with data that must not be stored")

        with pytest.raises(RuntimeError):
            batch_job_run(
                tenant_id=tenant.id,
                job_id=job.id,
                chunk_patients=4,
                after_chunk=fail_at_2,
            )
        with tenant_scope(tenant.id):
            failed = BatchJob.objects.get(id=job.id)
            assert failed.status == BatchJobStatus.FAILED
            assert failed.error == "RuntimeError after chunk 1"
            assert failed.finished_at is not None
            # a failed job no longer blocks a new request, and only failed jobs resume
            with pytest.raises(ConflictError):
                batch_job_cancel(actor=None, job_id=job.id)
            batch_job_resume(actor=None, job_id=job.id)
            with pytest.raises(ConflictError):
                batch_job_resume(actor=None, job_id=job.id)
        job = batch_job_run(tenant_id=tenant.id, job_id=job.id, chunk_patients=4)
        assert job.status == BatchJobStatus.SUCCEEDED
        assert job.pairs_scored == len(pairs)
        assert set(_candidate_pairs(tenant)) == expected

    def test_decided_pairs_are_not_scored_again(self, tenant, population):
        smith, smyth = population["smith"], population["smyth"]
        with tenant_scope(tenant.id):
            match_decision_record(
                actor=None,
                patient_id=smith.id,
                other_patient_id=smyth.id,
                decision=MatchDecisionKind.NOT_DUPLICATE,
            )
        pairs, _ = _reference(tenant)
        assert _pair(smith, smyth) not in pairs
        job = batch_job_run(tenant_id=tenant.id, job_id=_request(tenant).id)
        assert job.pairs_scored == len(pairs)
        assert _pair(smith, smyth) not in _candidate_pairs(tenant)

    def test_open_candidates_are_refreshed_by_a_later_run(self, tenant, population):
        batch_job_run(tenant_id=tenant.id, job_id=_request(tenant).id)
        first = _candidate_pairs(tenant)
        job = batch_job_run(tenant_id=tenant.id, job_id=_request(tenant).id)
        assert job.proposals["inserted"] == 0
        assert job.proposals["refreshed"] == len(first)
        assert set(_candidate_pairs(tenant)) == set(first)

    def test_a_deceased_patient_is_never_certain(self, tenant, population):
        smith, smyth = population["smith"], population["smyth"]
        batch_job_run(tenant_id=tenant.id, job_id=_request(tenant).id)
        assert _candidate_pairs(tenant)[_pair(smith, smyth)].grade == "certain"
        with tenant_scope(tenant.id):
            vital_status_record_death(
                actor=None,
                patient_id=smyth.id,
                expected_version=None,
                death=DeathDate(date(2024, 5, 17)),
                source="hospital",
                channel="rest",
            )
        batch_job_run(tenant_id=tenant.id, job_id=_request(tenant).id)
        assert _candidate_pairs(tenant)[_pair(smith, smyth)].grade == "probable"

    def test_a_slice_covers_only_its_birth_years(self, tenant, population):
        job = _request(tenant, birth_year_from=1975, birth_year_to=1985)
        job = batch_job_run(tenant_id=tenant.id, job_id=job.id)
        assert set(_candidate_pairs(tenant)) == {
            _pair(population["smith"], population["smyth"]),
            _pair(population["jones"], population["brown"]),
        }
        assert (job.birth_year_from, job.birth_year_to) == (1975, 1985)

    def test_chunk_hooks_run_with_each_chunk(self, tenant, population):
        seen = []

        def hook(job, summary):
            seen.append((job.chunks, summary.certain))

        register_batch_chunk_hook(hook)
        register_batch_chunk_hook(hook)
        try:
            job = batch_job_run(tenant_id=tenant.id, job_id=_request(tenant).id, chunk_patients=5)
        finally:
            unregister_batch_chunk_hook(hook)
            unregister_batch_chunk_hook(hook)
        assert [chunks for chunks, _ in seen] == list(range(1, job.chunks + 1))
        assert sum(certain for _, certain in seen) == job.proposals["certain"] > 0

    def test_run_refuses_an_open_transaction(self, tenant):
        with tenant_scope(tenant.id), pytest.raises(RuntimeError):
            batch_job_run(tenant_id=tenant.id, job_id=tenant.id)

    def test_an_unknown_or_finished_job_does_nothing(self, tenant, population):
        job = batch_job_run(tenant_id=tenant.id, job_id=_request(tenant).id)
        again = batch_job_run(tenant_id=tenant.id, job_id=job.id)
        assert (again.chunks, again.finished_at) == (job.chunks, job.finished_at)


class TestConcurrentRunners:
    """Two runners on one job (two worker processes in production; two threads with their own
    database connections here) share its chunks: each chunk is claimed by one of them."""

    def _run_side_by_side(self, tenant, job, runners, *, after_chunk=None):
        errors = []

        def run():
            try:
                batch_job_run(
                    tenant_id=tenant.id, job_id=job.id, chunk_patients=3, after_chunk=after_chunk
                )
            except BaseException as exc:  # noqa: BLE001 - reported to the test thread
                errors.append(exc)
            finally:
                connection.close()  # this thread's own connection

        threads = [threading.Thread(target=run) for _ in range(runners)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        return errors

    def test_two_runners_score_disjoint_chunks_at_once_and_write_each_pair_once(
        self, tenant, population, monkeypatch
    ):
        pairs, expected = _reference(tenant)
        job = _request(tenant)
        # Both runners must be inside a chunk at the same moment: each one's first chunk waits
        # (after blocking, before scoring) until the other has claimed a chunk as well.
        both_claimed = threading.Barrier(2, timeout=30)
        scored_by: dict[str, int] = {}
        real_score_pairs = batch_service.score_pairs

        def score_pairs_side_by_side(*args, **kwargs):
            name = threading.current_thread().name
            if name not in scored_by:
                both_claimed.wait()
            scored_by[name] = scored_by.get(name, 0) + 1
            return real_score_pairs(*args, **kwargs)

        monkeypatch.setattr(batch_service, "score_pairs", score_pairs_side_by_side)
        assert self._run_side_by_side(tenant, job, 2) == []
        with tenant_scope(tenant.id):
            job = BatchJob.objects.get(id=job.id)
            planned = list(BatchChunk.objects.filter(job=job))
            audits = list(AuditEvent.objects.filter(action="mpi.candidates_proposed"))
            assert AuditEvent.objects.filter(action="mpi.batch_started").count() == 1
            assert AuditEvent.objects.filter(action="mpi.batch_succeeded").count() == 1
        assert len(scored_by) == 2
        assert sum(scored_by.values()) == len(planned) == job.chunks > 2
        assert job.status == BatchJobStatus.SUCCEEDED
        assert job.done == job.total
        assert job.pairs_scored == len(pairs)
        stored = _candidate_pairs(tenant)
        assert set(stored) == expected
        # Every pair offered and inserted exactly once: none refreshed by a second writer.
        assert job.proposals["offered"] == job.proposals["inserted"] == len(expected)
        assert job.proposals["refreshed"] == 0
        assert sum(a.details["inserted"] for a in audits) == len(stored)

    def test_a_chunk_whose_runner_dies_is_scored_by_another(self, tenant, population):
        pairs, expected = _reference(tenant)
        job = _request(tenant)
        killed: list[int] = []

        def kill_first_chunk(running):
            if not killed:
                killed.append(running.chunks)
                raise WorkerKilled

        with pytest.raises(WorkerKilled):
            batch_job_run(
                tenant_id=tenant.id, job_id=job.id, chunk_patients=3, after_chunk=kill_first_chunk
            )
        with tenant_scope(tenant.id):
            assert BatchChunk.objects.filter(job_id=job.id, done=True).count() == 0
        assert self._run_side_by_side(tenant, job, 2) == []
        with tenant_scope(tenant.id):
            job = BatchJob.objects.get(id=job.id)
        assert job.status == BatchJobStatus.SUCCEEDED
        assert job.pairs_scored == len(pairs)
        assert set(_candidate_pairs(tenant)) == expected
        assert job.proposals["offered"] == len(expected)

    def test_a_job_started_before_chunks_were_planned_continues_from_its_checkpoint(
        self, tenant, population
    ):
        pairs, _ = _reference(tenant)
        job = _request(tenant)
        with tenant_scope(tenant.id):
            # As the previous release left a running job: rule 0 done, nothing planned.
            BatchJob.objects.filter(id=job.id).update(
                status=BatchJobStatus.RUNNING, checkpoint={"rule": 1, "after": None}
            )
        job = batch_job_run(tenant_id=tenant.id, job_id=job.id, chunk_patients=3)
        with tenant_scope(tenant.id):
            rules = set(BatchChunk.objects.filter(job=job).values_list("rule", flat=True))
        assert job.status == BatchJobStatus.SUCCEEDED
        assert rules == set(range(1, len(BLOCKING_RULES)))
        assert 0 < job.pairs_scored < len(pairs)


class TestRequestAndCancel:
    def test_one_live_job_per_tenant(self, tenant):
        _request(tenant)
        with pytest.raises(ConflictError):
            _request(tenant)
        other = make_tenant()
        assert _request(other).status == BatchJobStatus.QUEUED

    def test_an_empty_slice_is_refused(self, tenant):
        with pytest.raises(ValidationFailedError):
            _request(tenant, birth_year_from=1990, birth_year_to=1980)

    def test_cancel_a_queued_job(self, tenant):
        job = _request(tenant)
        with tenant_scope(tenant.id):
            cancelled = batch_job_cancel(actor=None, job_id=job.id)
            assert cancelled.status == BatchJobStatus.CANCELLED
            with pytest.raises(ConflictError):
                batch_job_cancel(actor=None, job_id=job.id)
            with pytest.raises(NotFoundError):
                batch_job_cancel(actor=None, job_id=tenant.id)
        assert batch_job_run(tenant_id=tenant.id, job_id=job.id).chunks == 0

    def test_cancel_a_running_job_stops_it_before_the_next_chunk(self, tenant, population):
        job = _request(tenant)

        def cancel_after_second_chunk(running):
            if running.chunks == 2:
                batch_job_cancel(actor=None, job_id=running.id)

        job = batch_job_run(
            tenant_id=tenant.id,
            job_id=job.id,
            chunk_patients=3,
            after_chunk=cancel_after_second_chunk,
        )
        assert (job.status, job.chunks) == (BatchJobStatus.CANCELLED, 2)
        assert job.done < job.total
        with tenant_scope(tenant.id):
            assert AuditEvent.objects.filter(action="mpi.batch_cancelled").count() == 1


class TestAutoLink:
    """The batch links CERTAIN pairs to one enterprise id as it proposes them (mpi/apps.py)."""

    def _enterprise_ids(self, tenant, *patients):
        with tenant_scope(tenant.id):
            return {
                row.id: row.enterprise_id
                for row in Patient.objects.filter(id__in=[p.id for p in patients])
            }

    def test_a_certain_pair_shares_one_enterprise_id_after_the_run(self, tenant, population):
        smith, smyth = population["smith"], population["smyth"]
        before = self._enterprise_ids(tenant, smith, smyth)
        assert before[smith.id] != before[smyth.id]
        batch_job_run(tenant_id=tenant.id, job_id=_request(tenant).id)
        pair = _candidate_pairs(tenant)[_pair(smith, smyth)]
        assert pair.grade == "certain"
        assert pair.auto_linked
        assert pair.status == "open"  # linked, still reviewable by a steward
        after = self._enterprise_ids(tenant, smith, smyth)
        assert after[smith.id] == after[smyth.id]

    def test_unproposed_patients_keep_their_own_enterprise_ids(self, tenant, population):
        batch_job_run(tenant_id=tenant.id, job_id=_request(tenant).id)
        strangers = [population[key] for key in ("okafor", "nguyen", "baby1", "baby2")]
        assert len(set(self._enterprise_ids(tenant, *strangers).values())) == len(strangers)
