"""The MPI's FHIR operations (`Patient/$match`, `Patient/$ihe-pix`), registered into
registration's FHIR facade at start-up."""
