"""Request files for wrk, generated from the synthetic population loaded into the template.

One line per request, METHOD<TAB>PATH<TAB>BODY (rotate.lua's format):

- search.tsv: GET /api/v1/patients?… for sampled loaded people, rotating the front desk's usual
  criteria (family + given + birth date, a name, an identifier, a family prefix + birth date);
- match.tsv: POST /api/v1/match with the demographics of sampled loaded people;
- register.tsv: POST /api/v1/patients bodies of people who are NOT in the tenant (another seed,
  no duplicates), each sent once at most: a repeat would be a 409 duplicate, not a registration;
- fhir-read.tsv, fhir-search.tsv, fhir-match.tsv: the FHIR equivalents (used once /fhir exists);
- ceiling.json: the raw trigram query's parameters for the match sample.
"""

import dataclasses
import json
import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from registration.services.inputs import PatientInput
from registration.services.synthetic import synthetic_to_input
from registration.synthetic import SyntheticPerson, generate

TENANT_SLUG = "bench-service"
NEW_PEOPLE_LABEL = "bench-service-new"


def api_json(value: Any) -> Any:
    """A service input dataclass as the REST API's JSON (tuples as lists, ISO dates, no Nones)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: api_json(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if getattr(value, field.name) not in (None, "", ())
        }
    if isinstance(value, tuple | list):
        return [api_json(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _line(method: str, path: str, body: dict[str, Any] | None = None) -> str:
    encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":")) if body else ""
    return f"{method}\t{path}\t{encoded}\n"


def _sample(people: Iterator[SyntheticPerson], total: int, count: int, seed: int) -> list[Any]:
    chosen = set(random.Random(seed).sample(range(total), min(count, total)))  # noqa: S311 - reproducible
    return [person for index, person in enumerate(people) if index in chosen]


def search_path(person: SyntheticPerson, variant: int) -> str:
    """One of the front desk's usual searches for a person."""
    birth = person.birth_date.isoformat() if person.birth_date else None
    query: dict[str, str]
    if variant == 2 and person.identifiers:
        identifier = person.identifiers[0]
        query = {"identifier": f"{identifier.system}|{identifier.value}"}
    elif variant == 1 and person.family and person.given:
        query = {"name": f"{person.family} {person.given}"}
    elif variant == 3 and person.family and birth:
        query = {"family": person.family[:4], "birth_date": birth}
    else:
        query = {k: v for k, v in (("family", person.family), ("given", person.given)) if v}
        if birth:
            query["birth_date"] = birth
    return "/api/v1/patients?" + urlencode(query)


def fhir_patient(data: PatientInput) -> dict[str, Any]:
    """A minimal FHIR R4 Patient for the same demographics."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [
            {"family": name.family, "given": list(name.given)} for name in data.names if name.family
        ],
        "gender": data.gender,
    }
    if data.birth_date:
        resource["birthDate"] = data.birth_date.isoformat()
    return resource


def write_request_files(
    directory: Path, *, size: int, seed: int, duplicate_rate: float, samples: int, fresh: int
) -> dict[str, int]:
    """Write every request file for a population; return how many lines each holds."""
    from mpi.selectors.candidates import candidate_query  # noqa: PLC0415 - needs Django set up
    from mpi.services.matching import placeholder_policy  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    loaded = _sample(
        generate(size, seed=seed, duplicate_rate=duplicate_rate, tenant_label=TENANT_SLUG),
        size,
        samples,
        seed,
    )
    policy = placeholder_policy()
    ceiling: list[dict[str, str]] = []
    with (
        (directory / "search.tsv").open("w", encoding="utf-8") as search,
        (directory / "match.tsv").open("w", encoding="utf-8") as match,
        (directory / "fhir-read.tsv").open("w", encoding="utf-8") as fhir_read,
        (directory / "fhir-search.tsv").open("w", encoding="utf-8") as fhir_search,
        (directory / "fhir-match.tsv").open("w", encoding="utf-8") as fhir_match,
    ):
        for index, person in enumerate(loaded):
            patient_id, data = synthetic_to_input(person)
            search.write(_line("GET", search_path(person, index % 4)))
            match.write(_line("POST", "/api/v1/match", api_json(data)))
            fhir_read.write(_line("GET", f"/fhir/Patient/{patient_id}"))
            query = {"family": person.family or "", "birthdate": str(data.birth_date or "")}
            fhir_search.write(
                _line("GET", "/fhir/Patient?" + urlencode({k: v for k, v in query.items() if v}))
            )
            fhir_match.write(
                _line(
                    "POST",
                    "/fhir/Patient/$match",
                    {
                        "resourceType": "Parameters",
                        "parameter": [
                            {"name": "resource", "resource": fhir_patient(data)},
                            {"name": "count", "valueInteger": 10},
                        ],
                    },
                )
            )
            terms = candidate_query(data, policy)
            if data.birth_date and terms.family and terms.given:
                ceiling.append(
                    {
                        "family": terms.family,
                        "given": terms.given,
                        "birth": data.birth_date.isoformat(),
                        "exclude": str(patient_id),
                    }
                )
    (directory / "ceiling.json").write_text(json.dumps(ceiling), encoding="utf-8")
    written = 0
    with (directory / "register.tsv").open("w", encoding="utf-8") as register:
        for person in generate(
            fresh, seed=seed + 1, duplicate_rate=0.0, tenant_label=NEW_PEOPLE_LABEL
        ):
            register.write(
                _line("POST", "/api/v1/patients", api_json(synthetic_to_input(person)[1]))
            )
            written += 1
    return {"samples": len(loaded), "ceiling": len(ceiling), "register": written}
