"""Routes of the FHIR R4 API, mounted under /fhir/.

Each registered Patient operation gets its own route (`Patient/$match`), so its requests carry
their own `route` metric label (`fhir/Patient/$match`, what the SLOs select); the
`Patient/$<str:name>` route after them answers operations nobody registered (404). The URL
configuration is imported on the first request, after every app's `ready()` has registered its
operations.
"""

from django.urls import URLPattern, path

from registration.fhir.bundle import SystemView
from registration.fhir.operations import patient_operations
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
    *(
        path(
            f"Patient/${operation.name}",
            PatientOperationView.as_view(),
            {"name": operation.name},
            name="fhir-patient-operation",
        )
        for operation in patient_operations()
    ),
    path("Patient/$<str:name>", PatientOperationView.as_view(), name="fhir-patient-operation"),
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
