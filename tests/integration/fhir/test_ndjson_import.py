"""`manage.py fhir_import_ndjson`: streamed FHIR Patients, bulk-loaded, rejects reported."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from registration.models import Patient, PatientIdentifier
from tenancy.db import tenant_scope
from tests.factories import make_tenant
from tests.integration.fhir.conftest import full_patient

pytestmark = pytest.mark.django_db


def _line(n: int, **changes) -> str:
    return json.dumps(full_patient(mrn=f"N-{n}", **changes))


def test_import_loads_valid_lines_and_reports_each_rejected_one(tmp_path):
    tenant = make_tenant()
    restricted = {
        "security": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
        ]
    }
    lines = [
        _line(1),
        "",
        "{not json",
        json.dumps({"resourceType": "Patient", "gender": 7}),
        _line(2, birthDate="2999-01-01"),
        _line(3, meta=restricted),
        _line(4, deceasedBoolean=True),
        _line(5),
        _line(6),
    ]
    source = tmp_path / "patients.ndjson"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rejected = tmp_path / "rejected.ndjson"
    out = StringIO()
    call_command(
        "fhir_import_ndjson",
        str(source),
        tenant=tenant.slug,
        batch_size=2,
        progress_every=3,
        errors=str(rejected),
        stdout=out,
    )
    report = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert [r["line"] for r in report] == [3, 4, 5, 6, 7]
    assert report[3]["errors"][0].startswith("Patient.meta.security")
    assert "Okafor" not in rejected.read_text()
    text = out.getvalue()
    assert "read 8, loaded 3, rejected 5" in text
    assert "read 3 records" in text
    assert "not stored by the bulk path: contact in 3 records" in text
    with tenant_scope(tenant.id):
        assert Patient.objects.count() == 3
        assert set(PatientIdentifier.objects.values_list("value", flat=True)) >= {
            "N-1",
            "N-5",
            "N-6",
        }


def test_unknown_tenant_is_an_error(tmp_path):
    source = tmp_path / "x.ndjson"
    source.write_text("", encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("fhir_import_ndjson", str(source), tenant="nope")
