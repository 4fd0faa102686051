"""The FHIR R4 facade of the patient record (PDQm supplier, Patient CRUD, operations)."""
