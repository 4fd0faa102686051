"""Routes of the MPI API, mounted under /api/v1/."""

from django.urls import URLPattern, path

from mpi.api.batch import BatchCancelApi, BatchDetailApi, BatchListApi, BatchResumeApi
from mpi.api.views import MatchApi

urlpatterns: list[URLPattern] = [
    path("match", MatchApi.as_view(), name="match"),
    path("match/batches", BatchListApi.as_view(), name="match-batches"),
    path("match/batches/<uuid:job_id>", BatchDetailApi.as_view(), name="match-batch-detail"),
    path("match/batches/<uuid:job_id>/cancel", BatchCancelApi.as_view(), name="match-batch-cancel"),
    path("match/batches/<uuid:job_id>/resume", BatchResumeApi.as_view(), name="match-batch-resume"),
]
