"""Batch deduplication: score every blocked pair of a tenant (or a slice) into the review queue.

A job's blocking rules (`mpi.selectors.blocking`) are cut into chunks of whole keys when it
starts (`BatchChunk` rows). Runners — one per worker process, any number — claim pending
chunks with `FOR UPDATE SKIP LOCKED`; per chunk, in one transaction, PostgreSQL produces the
chunk's pairs, the pure engine scores them with the tenant's current model, term frequencies
and placeholders, `match_candidates_propose` upserts them, and the chunk is marked done and
counted on the job. So memory stays bounded by the chunk, the runners share the work, and a
run that dies (worker killed, exception) leaves exactly the undone chunks pending: no pair
lost, none scored twice. Cancellation is a flag checked before every chunk.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from mpi.matching.model import ModelParameters
from mpi.matching.normalize import PlaceholderPolicy
from mpi.matching.score import MatchGrade, score_best_pair
from mpi.models import LIVE_BATCH_STATUSES, BatchChunk, BatchJob, BatchJobStatus
from mpi.selectors.blocking import (
    BLOCKING_RULES,
    BatchSlice,
    PlannedChunk,
    block_pairs,
    overshared_telecom_values,
    plan_key_chunks,
)
from mpi.selectors.frequencies import term_frequency_lookup
from mpi.selectors.models import current_match_parameters
from mpi.selectors.records import candidate_records, without_unshared_record_numbers
from mpi.selectors.vital_status import deceased_patient_ids
from mpi.services.candidates import ProposalSummary, ScoredPair, match_candidates_propose
from mpi.services.matching import placeholder_policy
from tenancy.db import current_tenant_id, tenant_scope
from tenancy.errors import ConflictError, FieldError, NotFoundError, ValidationFailedError
from tenancy.principal import Principal
from tenancy.services.audit import audit_record

# Patients per chunk (whole keys, so a chunk may hold more): bounds a worker's memory and
# the work lost to a crash.
CHUNK_PATIENTS = 2000
_ERROR_LENGTH = 500
# A chunk that deadlocked with a concurrent one (both linking a patient) is retried this often.
_MAX_RETRIES = 5
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock, serialization failure

ChunkHook = Callable[[BatchJob, ProposalSummary], None]
_chunk_hooks: list[ChunkHook] = []


def register_batch_chunk_hook(hook: ChunkHook) -> None:
    """Run `hook(job, summary)` at the end of every chunk, inside the chunk's transaction.

    For work that must follow each chunk's proposals atomically, such as auto-linking the
    CERTAIN pairs (the enterprise-id service of the review queue).
    """
    if hook not in _chunk_hooks:
        _chunk_hooks.append(hook)


def unregister_batch_chunk_hook(hook: ChunkHook) -> None:
    """Undo `register_batch_chunk_hook` (tests, reconfiguration)."""
    if hook in _chunk_hooks:
        _chunk_hooks.remove(hook)


def batch_job_request(
    *,
    actor: Principal | None,
    birth_year_from: int | None = None,
    birth_year_to: int | None = None,
) -> BatchJob:
    """Queue a deduplication job for the current tenant (or the patients born in a range).

    At most one job per tenant is queued or running (409 otherwise). The caller enqueues the
    task once this commits.
    """
    if (
        birth_year_from is not None
        and birth_year_to is not None
        and birth_year_from > birth_year_to
    ):
        raise ValidationFailedError(
            "The slice is empty.",
            errors=[FieldError("birth_year_to", "invalid", "Must not be before birth_year_from.")],
        )
    with transaction.atomic():
        job = BatchJob(
            tenant_id=current_tenant_id(),
            birth_year_from=birth_year_from,
            birth_year_to=birth_year_to,
            checkpoint={"rule": 0, "after": None},
            requested_by=actor.label if actor else "system",
        )
        try:
            with transaction.atomic():
                job.save()
        except IntegrityError as exc:
            raise ConflictError("A deduplication job is already queued or running.") from exc
        _audit(actor, job, "mpi.batch_requested")
    return job


def batch_job_cancel(*, actor: Principal | None, job_id: UUID) -> BatchJob:
    """Stop a job: a queued one at once, a running one before its next chunk (409 if over)."""
    with transaction.atomic():
        job = _locked(job_id)
        if job.status not in LIVE_BATCH_STATUSES:
            raise ConflictError(f"The job is already {job.status}.")
        if job.status == BatchJobStatus.QUEUED:
            job.status = BatchJobStatus.CANCELLED
            job.finished_at = timezone.now()
        job.cancel_requested = True
        job.save()
        _audit(actor, job, "mpi.batch_cancel_requested")
    return job


def batch_job_resume(*, actor: Principal | None, job_id: UUID) -> BatchJob:
    """Queue a failed job again; it continues from its checkpoint (409 unless failed)."""
    with transaction.atomic():
        job = _locked(job_id)
        if job.status != BatchJobStatus.FAILED:
            raise ConflictError("Only a failed job can be resumed.")
        job.status = BatchJobStatus.QUEUED
        job.error = ""
        job.finished_at = None
        try:
            with transaction.atomic():
                job.save()
        except IntegrityError as exc:
            raise ConflictError("A deduplication job is already queued or running.") from exc
        _audit(actor, job, "mpi.batch_resumed")
    return job


def batch_job_run(
    *,
    tenant_id: UUID,
    job_id: UUID,
    chunk_patients: int = CHUNK_PATIENTS,
    after_chunk: Callable[[BatchJob], None] | None = None,
) -> BatchJob:
    """Run (or resume, or help) a job chunk by chunk, one transaction each, until none is left.

    Must run outside any transaction: each chunk commits on its own. Any number of runners
    may work on one job at once (the task is sent once per worker process): the first plans
    the chunks, then each claims pending chunks with `FOR UPDATE SKIP LOCKED`, so no chunk is
    scored by two runners and a chunk whose runner died is pending again. The last runner to
    find nothing pending marks the job succeeded. `after_chunk(job)` runs inside each chunk's
    transaction after its writes (a test hook to simulate a crash there). An exception marks
    the job failed (its done chunks stay: resume continues with the rest); a worker killed
    outright leaves it running, and running the task again continues it. A deadlock with a
    concurrent chunk (both linking one patient) rolls the chunk back and retries it.
    """
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("batch_job_run commits per chunk and cannot run inside a transaction")
    run = _Run(policy=None, parameters=None)
    retries = 0
    try:
        while True:
            try:
                if not _run_step(tenant_id, job_id, chunk_patients, after_chunk, run):
                    break
                retries = 0
            except OperationalError as exc:
                retries += 1
                if not _is_transient(exc) or retries > _MAX_RETRIES:
                    raise
    except Exception as exc:
        _fail(tenant_id, job_id, exc)
        raise
    with tenant_scope(tenant_id):
        return BatchJob.objects.get(id=job_id)


def _is_transient(exc: OperationalError) -> bool:
    """A deadlock or serialization failure: the transaction rolled back and may be retried."""
    return getattr(exc.__cause__, "sqlstate", None) in _TRANSIENT_SQLSTATES


@dataclass
class _Run:
    """What one run reads once and keeps for all its chunks."""

    policy: PlaceholderPolicy | None
    parameters: ModelParameters | None


def _run_step(
    tenant_id: UUID,
    job_id: UUID,
    chunk_patients: int,
    after_chunk: Callable[[BatchJob], None] | None,
    run: _Run,
) -> bool:
    """One step of a job in its own transaction; False when this runner has nothing to do."""
    with tenant_scope(tenant_id):
        job = BatchJob.objects.filter(id=job_id).first()
        if job is None or job.status not in LIVE_BATCH_STATUSES:
            return False
        if run.policy is None or run.parameters is None:
            run.policy, run.parameters = placeholder_policy(), current_match_parameters()
        if job.cancel_requested:
            job = _locked(job_id)
            if job.status in LIVE_BATCH_STATUSES:
                _finish(job, BatchJobStatus.CANCELLED, "mpi.batch_cancelled")
            return False
        if job.status == BatchJobStatus.QUEUED or "planned" not in job.checkpoint:
            return _start(_locked(job_id), chunk_patients, run.policy)
        chunk = (
            BatchChunk.objects.select_for_update(skip_locked=True)
            .filter(job_id=job_id, done=False)
            .order_by("position")
            .first()
        )
        if chunk is None:
            # Chunks still pending here are being scored by other runners: the last of them
            # to finish finds none and closes the job.
            if not BatchChunk.objects.filter(job_id=job_id, done=False).exists():
                job = _locked(job_id)
                if job.status == BatchJobStatus.RUNNING:
                    _finish(job, BatchJobStatus.SUCCEEDED, "mpi.batch_succeeded")
            return False
        _run_chunk(job_id, chunk, after_chunk, run.policy, run.parameters)
        return True


def _start(job: BatchJob, chunk_patients: int, policy: PlaceholderPolicy) -> bool:
    """Plan a job's chunks (from its checkpoint) and mark it running; once, under its lock.

    Runners that queue on the lock meanwhile find it running with its plan. A resumed job is
    planned already. The checkpoint ({"rule", "after"}: where blocking starts) of a job
    begun before chunks were planned is honoured, so such a job continues where it stopped.
    """
    if job.status not in LIVE_BATCH_STATUSES:
        return False
    if "planned" not in job.checkpoint:
        batch_slice = BatchSlice(job.birth_year_from, job.birth_year_to)
        first_rule = int(job.checkpoint.get("rule", 0))
        raw_after = job.checkpoint.get("after")
        chunks: list[PlannedChunk] = []
        for rule_index in range(first_rule, len(BLOCKING_RULES)):
            chunks += plan_key_chunks(
                rule_index,
                after=tuple(raw_after) if rule_index == first_rule and raw_after else None,
                chunk_patients=chunk_patients,
                batch_slice=batch_slice,
                policy=policy,
            )
        BatchChunk.objects.bulk_create(
            BatchChunk(
                tenant_id=job.tenant_id,
                job=job,
                position=position,
                rule=chunk.rule,
                after=list(chunk.after) if chunk.after is not None else None,
                upto=list(chunk.upto),
                patients=chunk.patients,
            )
            for position, chunk in enumerate(chunks)
        )
        job.checkpoint = {
            **job.checkpoint,
            "planned": len(chunks),
            # The bound of the telecom rule, reported rather than applied silently.
            "telecom_values_left_out": overshared_telecom_values(policy),
        }
        job.total = job.done + sum(chunk.patients for chunk in chunks)
    if job.status == BatchJobStatus.QUEUED:
        job.status = BatchJobStatus.RUNNING
        job.started_at = job.started_at or timezone.now()
        _audit(None, job, "mpi.batch_started")
    job.save()
    return True


def _run_chunk(
    job_id: UUID,
    chunk: BatchChunk,
    after_chunk: Callable[[BatchJob], None] | None,
    policy: PlaceholderPolicy,
    parameters: ModelParameters,
) -> None:
    """Score one claimed chunk, propose its pairs, mark it done and count it on the job."""
    started = time.monotonic()
    job = BatchJob.objects.get(id=job_id)
    pairs = block_pairs(
        chunk.rule,
        after=tuple(chunk.after) if chunk.after is not None else None,
        upto=tuple(chunk.upto),
        batch_slice=BatchSlice(job.birth_year_from, job.birth_year_to),
        policy=policy,
    )
    summary = match_candidates_propose(
        actor=None,
        pairs=score_pairs(pairs, parameters=parameters, policy=policy),
        model_version=parameters.version,
    )
    chunk.done = True
    chunk.pairs_scored = len(pairs)
    chunk.finished_at = timezone.now()
    chunk.save(update_fields=["done", "pairs_scored", "finished_at"])
    # The job row last: concurrent runners wait on it only for the rest of this transaction.
    job = _locked(job_id)
    job.done += chunk.patients
    job.chunks += 1
    job.pairs_scored += len(pairs)
    job.proposals = _added(job.proposals, summary)
    job.model_version = parameters.version
    job.busy_seconds += time.monotonic() - started
    job.save()
    for hook in _chunk_hooks:
        hook(job, summary)
    if after_chunk is not None:
        after_chunk(job)


def score_pairs(
    pairs: list[tuple[UUID, UUID]],
    *,
    parameters: ModelParameters,
    policy: PlaceholderPolicy,
) -> list[ScoredPair]:
    """Score `pairs` of stored patients with the engine: records and frequencies read once.

    A pair's score is its best name combination. A deceased patient is never auto-linked:
    CERTAIN is capped at PROBABLE when either side is deceased. Pairs whose patient is no
    longer active are skipped.
    """
    if not pairs:
        return []
    patient_ids = sorted({patient_id for pair in pairs for patient_id in pair})
    stored = candidate_records(patient_ids, policy)
    records = [record for group in stored.records.values() for record in group]
    term_frequency = term_frequency_lookup(
        family=[record.family for record in records], given=[record.given for record in records]
    )
    deceased = deceased_patient_ids(patient_ids)
    scored = []
    for low, high in pairs:
        left_records, right_records = stored.records.get(low), stored.records.get(high)
        if not left_records or not right_records:
            continue
        best = score_best_pair(
            [
                without_unshared_record_numbers(left, right, stored.record_number_systems)
                for left in left_records
                for right in right_records
            ],
            parameters,
            term_frequency=term_frequency,
            policy=policy,
        )
        grade = best.grade
        if grade is MatchGrade.CERTAIN and (low in deceased or high in deceased):
            grade = MatchGrade.PROBABLE
        scored.append(
            ScoredPair(
                patient_id=low,
                other_patient_id=high,
                probability=best.probability,
                weight=best.weight,
                grade=grade,
                explanation=best.explanation,
            )
        )
    return scored


def _added(counts: dict[str, int], summary: ProposalSummary) -> dict[str, int]:
    return {key: counts.get(key, 0) + value for key, value in summary.to_dict().items()}


def _finish(job: BatchJob, status: BatchJobStatus, action: str) -> bool:
    job.status = status
    job.finished_at = timezone.now()
    job.save()
    _audit(None, job, action)
    return False


def _fail(tenant_id: UUID, job_id: UUID, exc: Exception) -> None:
    """Record a failure: the exception's type only (its message may carry data)."""
    with tenant_scope(tenant_id):
        job = BatchJob.objects.select_for_update().filter(id=job_id).first()
        if job is None or job.status not in LIVE_BATCH_STATUSES:
            return
        job.status = BatchJobStatus.FAILED
        job.error = f"{type(exc).__name__} after chunk {job.chunks}"[:_ERROR_LENGTH]
        job.finished_at = timezone.now()
        job.save()
        _audit(None, job, "mpi.batch_failed")


def _locked(job_id: UUID) -> BatchJob:
    job = BatchJob.objects.select_for_update().filter(id=job_id).first()
    if job is None:
        raise NotFoundError("No such batch job.")
    return job


def _audit(actor: Principal | None, job: BatchJob, action: str) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type="batch_job",
        object_id=str(job.id),
        details={
            "status": str(job.status),
            "done": job.done,
            "total": job.total,
            "chunks": job.chunks,
            "pairs_scored": job.pairs_scored,
        },
    )
