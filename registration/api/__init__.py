"""REST interface of registration (`/api/v1/patients`)."""
