"""Routes of the FHIR R4 API, mounted under /fhir/."""

from django.urls import URLPattern, path, re_path

from registration.fhir.bundle import SystemView
from registration.fhir.views import (
    MetadataView,
    PatientHistoryView,
    PatientInstanceView,
    PatientOperationView,
    PatientSearchView,
    PatientTypeView,
    PatientVersionView,
)

urlpatterns: list[URLPattern] = [
    path("", SystemView.as_view(), name="fhir-system"),
    path("metadata", MetadataView.as_view(), name="fhir-metadata"),
    path("Patient", PatientTypeView.as_view(), name="fhir-patient-type"),
    path("Patient/_search", PatientSearchView.as_view(), name="fhir-patient-search"),
    re_path(
        r"^Patient/\$(?P<name>[A-Za-z-]+)$",
        PatientOperationView.as_view(),
        name="fhir-patient-operation",
    ),
    path("Patient/<uuid:patient_id>", PatientInstanceView.as_view(), name="fhir-patient"),
    path(
        "Patient/<uuid:patient_id>/_history",
        PatientHistoryView.as_view(),
        name="fhir-patient-history",
    ),
    path(
        "Patient/<uuid:patient_id>/_history/<str:version_id>",
        PatientVersionView.as_view(),
        name="fhir-patient-version",
    ),
]
