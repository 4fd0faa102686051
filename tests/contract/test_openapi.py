"""The committed OpenAPI schema is what the code generates, and the API honours it.

Schemathesis generates requests from the schema and runs every default check against the app
in-process (real database, as the app role): no server errors, documented status codes,
content types, headers and response bodies, schema-invalid input rejected, schema-valid input
accepted. Schema-valid input may still break a domain rule (a birth date in the future, a wrong
check digit) or carry a cursor this API did not issue; the API answers those with 422, which
the positive-data check is told to expect; a missing If-Match is 428 (RFC 6585).
"""

from pathlib import Path

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from config.wsgi import application
from tenancy.models import Role
from tests.factories import make_api_key, make_tenant

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "openapi.yaml"
EXAMPLES_PER_OPERATION = 40

schema = schemathesis.openapi.from_wsgi("/api/schema", application)
# Every text field refuses NUL characters (PostgreSQL cannot store them); the API description
# says so, and generation leaves them out rather than the schema repeating it on every field.
schema.config.generation.update(allow_x00=False, database="none")
schema.config.checks.positive_data_acceptance.expected_statuses = [
    *schema.config.checks.positive_data_acceptance.expected_statuses,
    "422",
]
# A change sent without If-Match is answered 428 Precondition Required (RFC 6585), the status
# made for exactly that case.
schema.config.checks.missing_required_header.expected_statuses = [
    *schema.config.checks.missing_required_header.expected_statuses,
    "428",
]


def test_committed_schema_is_current(tmp_path):
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", file=str(generated), validate=True, fail_on_warn=True)
    assert generated.read_text() == COMMITTED.read_text(), (
        "openapi.yaml drifted from the code: run `make openapi` and commit the result"
    )


@pytest.fixture
def keys(db):
    # The WSGI handler closes "obsolete" connections at each request's start and end; inside the
    # test's transaction that would close it, so switch that off as Django's test client does.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    tenant = make_tenant()
    yield {
        "front_desk": make_api_key(tenant, Role.FRONT_DESK).header,
        "auditor": make_api_key(tenant, Role.AUDITOR).header,
    }
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_honours_its_schema(case, keys):
    role = "auditor" if case.operation.path.startswith("/api/v1/audit-events") else "front_desk"
    case.call_and_validate(headers=keys[role])
