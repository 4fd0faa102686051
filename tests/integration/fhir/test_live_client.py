"""The real fhirclient (FHIRClient, Patient.read, Patient.where, create, update) against a
live server, every response also parsed by fhir.resources' R4B models."""

import pytest
import requests
from fhirclient import client as fhir_client
from fhirclient.models.patient import Patient as FhirPatient
from fhirclient.server import FHIRNotFoundException
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tenancy.models import Role
from tests.factories import make_api_key, make_tenant
from tests.integration.fhir.conftest import full_patient, strict_parse


@pytest.fixture
def transactional_db(committed_db: None) -> None:
    """What live_server asks for: committed rows the server thread sees, emptied afterwards."""


@pytest.fixture
def smart(live_server):
    tenant = make_tenant()
    key = make_api_key(tenant, Role.INTEGRATOR)
    smart = fhir_client.FHIRClient(
        settings={"app_id": "regsvc-tests", "api_base": f"{live_server.url}/fhir/"}
    )
    smart.server.session.headers.update(key.header)
    # One request per connection: the server's request thread ends (closing its database
    # connection) as soon as its response is sent.
    smart.server.session.headers["Connection"] = "close"
    # The test server may drop a connection the client is about to reuse (a race between its
    # close and the next request); idempotent reads are retried, as real clients do. Writes and
    # every HTTP status are never retried.
    retry = Retry(total=3, connect=3, read=3, status=0, allowed_methods={"GET"}, backoff_factor=0.1)
    smart.server.session.mount("http://", HTTPAdapter(max_retries=retry))
    yield smart
    # Kept-alive HTTP connections keep the server's request threads (and their database
    # connections) open; closing them lets the threads finish and close theirs.
    smart.server.session.close()


def test_fhirclient_reads_capabilities_creates_reads_searches_and_updates(smart):
    smart.prepare()
    statement = smart.server.capabilityStatement
    assert statement.fhirVersion == "4.0.1"
    strict_parse(statement.as_json())

    patient = FhirPatient(full_patient(mrn="LIVE-1"), strict=True)
    created = patient.create(smart.server)
    strict_parse(created)
    patient_id = created["id"]

    read = FhirPatient.read(patient_id, smart.server)
    assert read.name[0].family == "Okafor"
    assert read.meta.versionId == "1"
    strict_parse(read.as_json())

    search = FhirPatient.where(struct={"family": "okafor", "birthdate": "1987"})
    found = list(search.perform_resources_iter(smart.server))
    assert [p.id for p in found] == [patient_id]
    bundle = next(FhirPatient.where(struct={"identifier": "|LIVE-1"}).perform_iter(smart.server))
    strict_parse(bundle.as_json())
    assert bundle.entry[0].search.mode == "match"

    read.gender = "other"
    # fhirclient's update() sends no If-Match, which this server requires (428).
    with pytest.raises(requests.HTTPError) as refused:
        read.update(smart.server)
    answer = refused.value.response
    assert answer is not None
    assert answer.status_code == 428
    strict_parse(answer.json())
    updated = smart.server.session.put(
        f"{smart.server.base_uri}Patient/{patient_id}",
        json=read.as_json(),
        headers={"If-Match": 'W/"1"', "Content-Type": "application/fhir+json"},
    )
    assert updated.status_code == 200
    assert FhirPatient.read(patient_id, smart.server).gender == "other"


def test_fhirclient_sees_404_for_missing_patients(smart):
    with pytest.raises(FHIRNotFoundException):
        FhirPatient.read("00000000-0000-0000-0000-000000000000", smart.server)
