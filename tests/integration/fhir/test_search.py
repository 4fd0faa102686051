"""PDQm (ITI-78) search: every declared parameter works, paging, totals, 400s."""

import importlib
from datetime import date
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client

from registration.fhir.capability import capability_statement
from registration.fhir.search import SEARCH_PARAMETERS
from registration.models import PatientName
from registration.services.inputs import AddressInput, IdentifierInput, NameInput, TelecomInput
from registration.services.patients import patient_deactivate, patient_register
from tenancy.db import tenant_scope
from tenancy.models import Role
from tests.factories import make_api_key, make_tenant
from tests.integration.fhir.conftest import strict_parse
from tests.patient_builders import patient_data

pytestmark = pytest.mark.django_db
SYSTEM = "urn:oid:1.2.3.99"


@pytest.fixture
def people():
    tenant, other = make_tenant(), make_tenant()
    target_data = patient_data(
        names=(NameInput(family="Müller-Lüdenscheidt", given=("Jürgen", "Max")),),
        birth_date=date(1971, 4, 9),
        gender="male",
        mothers_maiden_name="Schäfer",
        identifiers=(IdentifierInput(system=SYSTEM, value="T-100"),),
        telecoms=(
            TelecomInput(system="phone", value="+49 30 1234567"),
            TelecomInput(system="email", value="Juergen@Example.org"),
        ),
        addresses=(
            AddressInput(
                lines=("Hauptstrasse 5",),
                city="Berlin",
                state="BE",
                postal_code="10115",
                country="DE",
            ),
        ),
    )
    other_data = patient_data(
        names=(NameInput(family="Santos", given=("Ana",)),),
        birth_date=date(1990, 12, 31),
        gender="female",
        mothers_maiden_name="Ferreira",
        identifiers=(IdentifierInput(system="urn:oid:1.2.3.98", value="O-200"),),
        telecoms=(TelecomInput(system="phone", value="+351 21 765 4321"),),
        addresses=(AddressInput(city="Lisbon", state="LX", postal_code="1100-148", country="PT"),),
    )
    with tenant_scope(tenant.id):
        target = patient_register(actor=None, data=target_data)
        other_patient = patient_register(actor=None, data=other_data)
        inactive = patient_register(
            actor=None,
            data=patient_data(
                names=(NameInput(family="Gone", given=("Gil",)),), birth_date=date(1930, 1, 1)
            ),
        )
        patient_deactivate(actor=None, patient_id=inactive.id, expected_version=1, reason="dup")
    with tenant_scope(other.id):
        patient_register(actor=None, data=target_data)
    client = Client(headers=make_api_key(tenant, Role.FRONT_DESK).header)
    return client, target, other_patient, inactive


def _ids(client, params):
    response = client.get("/fhir/Patient", params)
    assert response.status_code == 200, response.content
    body = response.json()
    strict_parse(body)
    return {e["resource"]["id"] for e in body.get("entry", [])}


# parameter -> (a value finding the target, a value that does not)
EXAMPLES = {
    "_id": (lambda t: str(t.id), lambda t: "00000000-0000-0000-0000-000000000000"),
    "active": (lambda t: "true", lambda t: "false"),
    "family": (lambda t: "muller", lambda t: "santos"),
    "family:exact": (lambda t: "Müller-Lüdenscheidt", lambda t: "müller-lüdenscheidt"),
    "family:contains": (lambda t: "ludensch", lambda t: "xyz"),
    "given": (lambda t: "JUR", lambda t: "gil"),
    "given:exact": (lambda t: "Jürgen", lambda t: "Jur"),
    "given:contains": (lambda t: "urge", lambda t: "ana"),
    "name": (lambda t: "jurgen", lambda t: "ana"),
    "name:exact": (lambda t: "Jürgen", lambda t: "jürgen"),
    "name:contains": (lambda t: "lud", lambda t: "ant"),
    "identifier": (lambda t: f"{SYSTEM}|T-100", lambda t: f"{SYSTEM}|O-200"),
    "telecom": (lambda t: "phone|+49 (30) 123-4567", lambda t: "email|ana@example.org"),
    "birthdate": (lambda t: "1971-04", lambda t: "1971-05"),
    "address": (lambda t: "Haupt", lambda t: "Lisb"),
    "address:exact": (lambda t: "Berlin", lambda t: "berlin"),
    "address:contains": (lambda t: "strasse", lambda t: "rua"),
    "address-city": (lambda t: "ber", lambda t: "lis"),
    "address-city:exact": (lambda t: "Berlin", lambda t: "BERLIN"),
    "address-city:contains": (lambda t: "erl", lambda t: "isb"),
    "address-postalcode": (lambda t: "101", lambda t: "1100"),
    "address-postalcode:exact": (lambda t: "10115", lambda t: "1011"),
    "address-postalcode:contains": (lambda t: "011", lambda t: "148"),
    "address-state": (lambda t: "be", lambda t: "lx"),
    "address-state:exact": (lambda t: "BE", lambda t: "be"),
    "address-state:contains": (lambda t: "E", lambda t: "X"),
    "address-country": (lambda t: "de", lambda t: "pt"),
    "address-country:exact": (lambda t: "DE", lambda t: "de"),
    "address-country:contains": (lambda t: "e", lambda t: "t"),
    "gender": (lambda t: "male", lambda t: "female"),
    "mothersMaidenName": (lambda t: "SCHÄ", lambda t: "fer"),
    "mothersMaidenName:exact": (lambda t: "Schäfer", lambda t: "schäfer"),
    "mothersMaidenName:contains": (lambda t: "äfe", lambda t: "eir"),
}


def test_every_declared_parameter_and_modifier_is_implemented(people):
    client, target, _, _ = people
    declared = {p.name for p in SEARCH_PARAMETERS} | {
        f"{p.name}:{m}" for p in SEARCH_PARAMETERS for m in p.modifiers
    }
    # A declared parameter without an example here fails: each must be shown to work.
    assert declared == set(EXAMPLES)
    statement = capability_statement(base_url="http://x/fhir", software_version="1")
    listed = {p["name"] for p in statement["rest"][0]["resource"][0]["searchParam"]}
    assert listed == {p.name for p in SEARCH_PARAMETERS}
    for name, (hit, miss) in EXAMPLES.items():
        assert str(target.id) in _ids(client, {name: hit(target)}), name
        assert str(target.id) not in _ids(client, {name: miss(target)}), name


def test_given_matches_any_given_name_not_only_the_first(people):
    client, target, _, _ = people
    t = str(target.id)
    assert t in _ids(client, {"given": "max"})  # the second given name
    assert t in _ids(client, {"given": "MA"})
    assert t not in _ids(client, {"given": "ax"})  # a prefix of a word, not the middle
    assert t in _ids(client, {"given:contains": "ax"})
    assert t in _ids(client, {"given:exact": "Max"})
    assert t not in _ids(client, {"given:exact": "max"})
    assert t in _ids(client, {"name": "max"})
    assert t in _ids(client, {"given": "max", "family": "muller"})


def test_names_written_before_the_column_existed_are_backfilled(people):
    client, target, _, _ = people
    migration = importlib.import_module("registration.migrations.0010_given_names_folded")
    with tenant_scope(target.tenant_id):
        PatientName.objects.filter(patient=target).update(given_names_folded="")
    assert str(target.id) not in _ids(client, {"given": "max"})
    with tenant_scope(target.tenant_id):
        migration.backfill_given_names(None, SimpleNamespace(connection=connection))
        assert PatientName.objects.get(patient=target).given_names_folded == "jurgen max"
    assert str(target.id) in _ids(client, {"given": "max"})


def test_identifier_forms_and_birthdate_prefixes(people):
    client, target, other, _ = people
    t = str(target.id)
    # The other tenant holds the same person and identifier: never found from here.
    assert _ids(client, {"identifier": f"{SYSTEM}|T-100"}) == {t}
    assert t in _ids(client, {"identifier": f"{SYSTEM}|"})
    assert t in _ids(client, {"identifier": "|T-100"})
    assert t in _ids(client, {"identifier": "T-100"})
    assert _ids(client, {"identifier": "urn:oid:1.2.3.97|T-100"}) == set()
    for value, found in [
        ("1971", True),
        ("eq1971-04-09", True),
        ("ne1971-04-09", False),
        ("gt1971-04-08", True),
        ("gt1971-04", False),
        ("lt1971-04-10", True),
        ("lt1971", False),
        ("ge1971-04-09", True),
        ("le1971-04-08", False),
    ]:
        assert (t in _ids(client, {"birthdate": value})) is found, value
    assert str(other.id) in _ids(client, {"birthdate": "ne1971"})
    both = _ids(client, {"family": "muller,santos"})
    assert both == {t, str(other.id)}
    assert _ids(client, [("birthdate", "ge1971"), ("birthdate", "lt1972")]) == {t}


def test_inactive_patients_are_returned_inactive(people):
    client, _, _, inactive = people
    body = client.get("/fhir/Patient", {"family": "gone"}).json()
    assert [(e["resource"]["id"], e["resource"]["active"]) for e in body["entry"]] == [
        (str(inactive.id), False)
    ]


def test_paging_links_sort_total_and_summary(people):
    client, target, other, inactive = people
    first = client.get("/fhir/Patient", {"_count": 1, "_sort": "-birthdate", "_total": "accurate"})
    body = first.json()
    strict_parse(body)
    assert body["total"] == 3
    assert [e["resource"]["id"] for e in body["entry"]] == [str(other.id)]
    relations = {link["relation"]: link["url"] for link in body["link"]}
    assert set(relations) == {"self", "next"}
    second = client.get(relations["next"]).json()
    assert [e["resource"]["id"] for e in second["entry"]] == [str(target.id)]
    relations = {link["relation"]: link["url"] for link in second["link"]}
    assert set(relations) == {"self", "next", "previous"}
    back = client.get(relations["previous"]).json()
    assert [e["resource"]["id"] for e in back["entry"]] == [str(other.id)]
    third = client.get({x["relation"]: x["url"] for x in second["link"]}["next"]).json()
    assert [e["resource"]["id"] for e in third["entry"]] == [str(inactive.id)]
    assert "next" not in {link["relation"] for link in third["link"]}
    count = client.get("/fhir/Patient", {"_summary": "count"}).json()
    strict_parse(count)
    assert count["total"] == 3
    assert "entry" not in count
    posted = client.post(
        "/fhir/Patient/_search",
        urlencode({"family": "muller"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert posted.status_code == 200
    assert [e["resource"]["id"] for e in posted.json()["entry"]] == [str(target.id)]


@pytest.mark.parametrize(
    "params",
    [
        {"nickname": "x"},
        {"family:fuzzy": "x"},
        {"birthdate": "sa1971"},
        {"birthdate": "1971-13"},
        {"active": "yes"},
        {"gender": "m"},
        {"_id": "12"},
        {"_sort": "nickname"},
        {"_count": "-1"},
        {"_count": "1000"},
        {"_total": "all"},
        {"_summary": "text"},
        {"identifier": "|"},
        {"family": ""},
        {"_page_token": "forged"},
        {"mothersMaidenName:fuzzy": "x"},
        {"mothersMaidenName": ""},
    ],
)
def test_unknown_or_malformed_parameters_are_400(people, params):
    client = people[0]
    response = client.get("/fhir/Patient", params)
    assert response.status_code == 400, params
    body = response.json()
    strict_parse(body)
    assert body["issue"][0]["code"] == "invalid"


def _links(body):
    return {link["relation"]: link["url"] for link in body["link"]}


@pytest.mark.parametrize(
    "sort",
    ["family", "-family", "birthdate", "-birthdate", "-_lastUpdated", "-_id", "birthdate,-family"],
)
def test_keyset_pages_walk_every_result_once_both_ways(people, sort):
    client, target, _, _ = people
    with tenant_scope(target.tenant_id):
        for given in ("Ana", "Bea", "Cai"):  # no birth date: NULLs sort last, or first reversed
            patient_register(
                actor=None,
                data=patient_data(
                    names=(NameInput(family="Nobirth", given=(given,)),), birth_date=None
                ),
                duplicate_override_reason="test: distinct people",
            )
    everything = [
        e["resource"]["id"]
        for e in client.get("/fhir/Patient", {"_sort": sort, "_count": 100}).json()["entry"]
    ]
    assert len(everything) == 6
    pages, url = [], f"/fhir/Patient?{urlencode({'_sort': sort, '_count': 2})}"
    while url:
        body = client.get(url).json()
        strict_parse(body)
        pages.append([e["resource"]["id"] for e in body["entry"]])
        again = client.get(_links(body)["self"]).json()
        assert [e["resource"]["id"] for e in again["entry"]] == pages[-1]
        url = _links(body).get("next")
    assert [pid for page in pages for pid in page] == everything
    assert [len(page) for page in pages] == [2, 2, 2]
    # Back from the last page, through `previous`, to the first (which has no `previous`).
    back: list[list[str]] = []
    url = _links(body).get("previous")
    while url:
        body = client.get(url).json()
        back.insert(0, [e["resource"]["id"] for e in body["entry"]])
        url = _links(body).get("previous")
    assert back == pages[:-1]
    assert "next" in _links(body)


def test_a_page_token_only_fits_its_own_search(people):
    client = people[0]
    body = client.get("/fhir/Patient", {"_count": 1}).json()
    token_url = next(x["url"] for x in body["link"] if x["relation"] == "next")
    token = token_url.split("_page_token=")[1]
    response = client.get("/fhir/Patient", {"_count": 1, "family": "x", "_page_token": token})
    assert response.status_code == 400


def test_search_and_read_have_a_query_ceiling_whatever_the_page_size(people):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client, target, _, _ = people
    # The key's first use stamps last_used_at (5 queries, once a minute): not a page-size cost.
    assert client.get("/fhir/metadata").status_code == 200
    counts = []
    for params in ({"family": "muller"}, {}):
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/fhir/Patient", params).status_code == 200
        counts.append(len(queries))
    # One result or three: the same queries (children are prefetched, never per patient).
    assert counts[0] == counts[1]
    assert counts[1] <= 20
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/fhir/Patient/{target.id}").status_code == 200
    assert len(queries) <= 20
