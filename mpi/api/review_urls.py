"""Routes of the review queue, merge and enterprise-person API, mounted under /api/v1/."""

from django.urls import URLPattern, path

from mpi.api.review_views import (
    CandidateBulkDecisionApi,
    CandidateClaimApi,
    CandidateDecisionApi,
    CandidateDetailApi,
    CandidateListApi,
    CandidateReopenApi,
    EnterpriseLinkApi,
    EnterprisePersonDetailApi,
    MergeDetailApi,
    MergeListApi,
    MergePreviewApi,
    MergeUnmergeApi,
)

urlpatterns: list[URLPattern] = [
    path("match-candidates", CandidateListApi.as_view(), name="candidate-list"),
    path(
        "match-candidates/decisions",
        CandidateBulkDecisionApi.as_view(),
        name="candidate-bulk-decision",
    ),
    path(
        "match-candidates/<uuid:candidate_id>",
        CandidateDetailApi.as_view(),
        name="candidate-detail",
    ),
    path(
        "match-candidates/<uuid:candidate_id>/claim",
        CandidateClaimApi.as_view(),
        name="candidate-claim",
    ),
    path(
        "match-candidates/<uuid:candidate_id>/decision",
        CandidateDecisionApi.as_view(),
        name="candidate-decision",
    ),
    path(
        "match-candidates/<uuid:candidate_id>/reopen",
        CandidateReopenApi.as_view(),
        name="candidate-reopen",
    ),
    path("merges", MergeListApi.as_view(), name="merge-list"),
    path("merges/preview", MergePreviewApi.as_view(), name="merge-preview"),
    path("merges/<uuid:merge_id>", MergeDetailApi.as_view(), name="merge-detail"),
    path("merges/<uuid:merge_id>/unmerge", MergeUnmergeApi.as_view(), name="merge-unmerge"),
    path("enterprise-persons/links", EnterpriseLinkApi.as_view(), name="enterprise-link"),
    path(
        "enterprise-persons/<uuid:euid>",
        EnterprisePersonDetailApi.as_view(),
        name="enterprise-person-detail",
    ),
]
