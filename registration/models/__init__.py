"""Patients, FHIR-shaped but relational: a patient row and its child tables."""

from registration.models.access import (
    BreakGlassReason,
    GrantKind,
    PatientAccessGrant,
    ReviewDecision,
)
from registration.models.codes import (
    AddressType,
    AddressUse,
    CheckDigitAlgorithm,
    Confidentiality,
    ContactRelationship,
    Gender,
    IdentifierUse,
    MaritalStatus,
    NameUse,
    TelecomSystem,
    TelecomUse,
)
from registration.models.patient import (
    IdentifierDomain,
    Patient,
    PatientAddress,
    PatientContact,
    PatientIdentifier,
    PatientName,
    PatientTelecom,
)

__all__ = [
    "AddressType",
    "AddressUse",
    "BreakGlassReason",
    "CheckDigitAlgorithm",
    "Confidentiality",
    "ContactRelationship",
    "Gender",
    "GrantKind",
    "IdentifierDomain",
    "IdentifierUse",
    "MaritalStatus",
    "NameUse",
    "Patient",
    "PatientAccessGrant",
    "PatientAddress",
    "PatientContact",
    "PatientIdentifier",
    "PatientName",
    "PatientTelecom",
    "ReviewDecision",
    "TelecomSystem",
    "TelecomUse",
]
