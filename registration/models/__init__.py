"""Patients, FHIR-shaped but relational: a patient row and its child tables."""

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
    PatientLink,
    PatientLinkType,
    PatientName,
    PatientTelecom,
)

__all__ = [
    "AddressType",
    "AddressUse",
    "CheckDigitAlgorithm",
    "Confidentiality",
    "ContactRelationship",
    "Gender",
    "IdentifierDomain",
    "IdentifierUse",
    "MaritalStatus",
    "NameUse",
    "Patient",
    "PatientAddress",
    "PatientContact",
    "PatientIdentifier",
    "PatientLink",
    "PatientLinkType",
    "PatientName",
    "PatientTelecom",
    "TelecomSystem",
    "TelecomUse",
]
