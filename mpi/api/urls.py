"""Routes of the MPI API, mounted under /api/v1/."""

from django.urls import URLPattern, path

from mpi.api.views import MatchApi

urlpatterns: list[URLPattern] = [
    path("match", MatchApi.as_view(), name="match"),
]
