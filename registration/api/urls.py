"""Routes of the patient API, mounted under /api/v1/."""

from django.urls import URLPattern, path

from registration.api.access import (
    BreakGlassApi,
    BreakGlassGrantListApi,
    BreakGlassReviewApi,
    PatientAccessGrantDetailApi,
    PatientAccessGrantListApi,
)
from registration.api.portraits import PortraitApi
from registration.api.views import (
    PatientDeactivateApi,
    PatientDetailApi,
    PatientIdentifierListApi,
    PatientIdentifierRetireApi,
    PatientListApi,
)
from registration.api.vital_status import (
    VitalStatusApi,
    VitalStatusCorrectApi,
    VitalStatusRefuteApi,
    VitalStatusVerifyApi,
)

urlpatterns: list[URLPattern] = [
    path("patients", PatientListApi.as_view(), name="patient-list"),
    path("patients/<uuid:patient_id>", PatientDetailApi.as_view(), name="patient-detail"),
    path(
        "patients/<uuid:patient_id>/deactivate",
        PatientDeactivateApi.as_view(),
        name="patient-deactivate",
    ),
    path(
        "patients/<uuid:patient_id>/identifiers",
        PatientIdentifierListApi.as_view(),
        name="patient-identifiers",
    ),
    path(
        "patients/<uuid:patient_id>/identifiers/<int:identifier_id>/retire",
        PatientIdentifierRetireApi.as_view(),
        name="patient-identifier-retire",
    ),
    path(
        "patients/<uuid:patient_id>/vital-status",
        VitalStatusApi.as_view(),
        name="patient-vital-status",
    ),
    path(
        "patients/<uuid:patient_id>/vital-status/verify",
        VitalStatusVerifyApi.as_view(),
        name="patient-vital-status-verify",
    ),
    path(
        "patients/<uuid:patient_id>/vital-status/refute",
        VitalStatusRefuteApi.as_view(),
        name="patient-vital-status-refute",
    ),
    path(
        "patients/<uuid:patient_id>/vital-status/correct",
        VitalStatusCorrectApi.as_view(),
        name="patient-vital-status-correct",
    ),
    path(
        "patients/<uuid:patient_id>/break-glass",
        BreakGlassApi.as_view(),
        name="patient-break-glass",
    ),
    path(
        "patients/<uuid:patient_id>/access-grants",
        PatientAccessGrantListApi.as_view(),
        name="patient-access-grants",
    ),
    path(
        "patients/<uuid:patient_id>/access-grants/<uuid:grant_id>",
        PatientAccessGrantDetailApi.as_view(),
        name="patient-access-grant",
    ),
    path("break-glass-grants", BreakGlassGrantListApi.as_view(), name="break-glass-grant-list"),
    path(
        "break-glass-grants/<uuid:grant_id>/review",
        BreakGlassReviewApi.as_view(),
        name="break-glass-grant-review",
    ),
    path(
        "patients/<uuid:patient_id>/portrait",
        PortraitApi.as_view(),
        name="patient-portrait",
    ),
]
