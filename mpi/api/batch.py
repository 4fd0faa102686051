"""Batch deduplication jobs over REST: start, list, follow progress, cancel, resume."""

from typing import Any
from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mpi.models import BatchJob, BatchJobStatus
from mpi.selectors.batch import batch_job_get, batch_jobs_recent
from mpi.services.batch import batch_job_cancel, batch_job_request, batch_job_resume
from mpi.tasks import batch_job_enqueue
from tenancy.api.fields import StrictIntegerField
from tenancy.api.permissions import HasTenantRole, request_principal
from tenancy.api.problems import problem_responses
from tenancy.models import Role

BATCH_ROLES = (Role.DATA_STEWARD, Role.TENANT_ADMIN)
Serializer = serializers.Serializer[Any]


class BatchRequestSerializer(Serializer):
    """What to deduplicate: the whole tenant, or the patients born within a range of years."""

    birth_year_from = StrictIntegerField(
        required=False, allow_null=True, default=None, min_value=1800, max_value=2200
    )
    birth_year_to = StrictIntegerField(
        required=False, allow_null=True, default=None, min_value=1800, max_value=2200
    )


class BatchJobSerializer(Serializer):
    """A job's scope, state and progress."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(BatchJobStatus.choices)
    birth_year_from = serializers.IntegerField(allow_null=True)
    birth_year_to = serializers.IntegerField(allow_null=True)
    done = serializers.IntegerField(help_text="Blocked patient rows processed.")
    total = serializers.IntegerField(help_text="Blocked patient rows in all (known once running).")
    progress = serializers.FloatField(help_text="done / total, 0..1.")
    chunks = serializers.IntegerField()
    pairs_scored = serializers.IntegerField()
    pairs_per_second = serializers.FloatField()
    proposals = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Review-queue proposals so far: offered, inserted, refreshed, skipped, certain.",
    )
    model_version = serializers.CharField()
    cancel_requested = serializers.BooleanField()
    requested_by = serializers.CharField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class BatchJobPageSerializer(Serializer):
    """The tenant's latest jobs, newest first."""

    results = BatchJobSerializer(many=True)


def batch_job_output(job: BatchJob) -> dict[str, Any]:
    """A job as the API shows it."""
    return {
        "id": job.id,
        "status": job.status,
        "birth_year_from": job.birth_year_from,
        "birth_year_to": job.birth_year_to,
        "done": job.done,
        "total": job.total,
        "progress": round(job.progress, 4),
        "chunks": job.chunks,
        "pairs_scored": job.pairs_scored,
        "pairs_per_second": round(job.pairs_per_second, 1),
        "proposals": job.proposals,
        "model_version": job.model_version,
        "cancel_requested": job.cancel_requested,
        "requested_by": job.requested_by,
        "error": job.error,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def _job_response(job: BatchJob, code: int = status.HTTP_200_OK) -> Response:
    return Response(BatchJobSerializer(batch_job_output(job)).data, status=code)


class BatchListApi(APIView):
    """Start a deduplication job; list the latest ones."""

    permission_classes = [HasTenantRole]
    allowed_roles = BATCH_ROLES
    required_module = "mpi"

    @extend_schema(
        operation_id="match_batches_list",
        responses={200: BatchJobPageSerializer, **problem_responses(401, 403)},
    )
    def get(self, request: Request) -> Response:
        jobs = [batch_job_output(job) for job in batch_jobs_recent()]
        return Response(BatchJobPageSerializer({"results": jobs}).data)

    @extend_schema(
        operation_id="match_batches_start",
        request=BatchRequestSerializer,
        responses={202: BatchJobSerializer, **problem_responses(400, 401, 403, 409, 422)},
        description=(
            "Queue batch deduplication of the tenant (or of the patients born within the "
            "years given). Pairs go to the review queue. 409 while another job is queued or "
            "running. Follow it with GET /api/v1/match/batches/{id}."
        ),
    )
    def post(self, request: Request) -> Response:
        body = BatchRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = batch_job_request(actor=request_principal(request), **body.validated_data)
        batch_job_enqueue(job)
        response = _job_response(job, status.HTTP_202_ACCEPTED)
        response["Location"] = f"/api/v1/match/batches/{job.id}"
        return response


class BatchDetailApi(APIView):
    """A job's progress."""

    permission_classes = [HasTenantRole]
    allowed_roles = BATCH_ROLES
    required_module = "mpi"

    @extend_schema(
        operation_id="match_batches_read",
        responses={200: BatchJobSerializer, **problem_responses(401, 403, 404)},
    )
    def get(self, request: Request, job_id: UUID) -> Response:
        return _job_response(batch_job_get(job_id))


class BatchCancelApi(APIView):
    """Cancel a job (a running one stops before its next chunk)."""

    permission_classes = [HasTenantRole]
    allowed_roles = BATCH_ROLES
    required_module = "mpi"

    @extend_schema(
        operation_id="match_batches_cancel",
        request=None,
        responses={200: BatchJobSerializer, **problem_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, job_id: UUID) -> Response:
        return _job_response(batch_job_cancel(actor=request_principal(request), job_id=job_id))


class BatchResumeApi(APIView):
    """Queue a failed job again; it continues from its last committed chunk."""

    permission_classes = [HasTenantRole]
    allowed_roles = BATCH_ROLES
    required_module = "mpi"

    @extend_schema(
        operation_id="match_batches_resume",
        request=None,
        responses={202: BatchJobSerializer, **problem_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, job_id: UUID) -> Response:
        job = batch_job_resume(actor=request_principal(request), job_id=job_id)
        batch_job_enqueue(job)
        return _job_response(job, status.HTTP_202_ACCEPTED)
