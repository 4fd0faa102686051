"""Reading batch deduplication jobs (progress for the API and the console)."""

from uuid import UUID

from django.db.models import QuerySet

from mpi.models import BatchJob
from tenancy.errors import NotFoundError

RECENT_JOBS = 50


def batch_job_get(job_id: UUID) -> BatchJob:
    """The current tenant's job; another tenant's or a missing one is 404 alike."""
    job = BatchJob.objects.filter(id=job_id).first()
    if job is None:
        raise NotFoundError("No such batch job.")
    return job


def batch_jobs_recent(limit: int = RECENT_JOBS) -> QuerySet[BatchJob]:
    """The current tenant's latest jobs, newest first."""
    return BatchJob.objects.order_by("-created_at")[:limit]
