"""`POST /fhir/`: batch and transaction Bundles of Patient creates and updates.

A batch runs each entry in its own savepoint and answers each with its own status (an
OperationOutcome for the ones that failed); a transaction runs all entries in one savepoint
and is all-or-nothing: the first failing entry rolls every entry back and is the answer.
"""

import re
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils.http import http_date
from fhirclient.models.bundle import Bundle
from rest_framework.request import Request
from rest_framework.response import Response

from registration.fhir.mapping import FhirStructureError, parse_resource, patient_json
from registration.fhir.outcome import domain_error_outcome
from registration.fhir.views import (
    DUPLICATE_OVERRIDE_HEADER,
    FhirView,
    base_url,
    patient_create,
    patient_replace,
)
from registration.models import Patient
from registration.selectors.access import patients_access
from registration.services.patients import patient_access_log
from tenancy.api.permissions import request_principal
from tenancy.errors import DomainError, FieldError, PreconditionRequiredError
from tenancy.principal import Principal

MAX_ENTRIES = 1000
_PUT_URL = re.compile(r"^Patient/([0-9a-fA-F-]{36})$")
_IF_MATCH = re.compile(r'^(W/)?"(\d{1,9})"$')
_REASONS = {200: "OK", 201: "Created"}


def _structure(index: int, message: str) -> FhirStructureError:
    return FhirStructureError(
        f"Bundle.entry[{index}]: {message}",
        errors=[FieldError(f"Bundle.entry[{index}].request", "structure", message)],
    )


def _status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, '')}".strip()


def _run_entry(
    index: int, entry: dict[str, Any], actor: Principal | None, override: str | None
) -> tuple[Patient, int]:
    request = entry.get("request") or {}
    method, url = request.get("method"), request.get("url", "")
    resource = entry.get("resource")
    if method == "POST" and url == "Patient":
        return patient_create(
            actor=actor,
            body=resource,
            if_none_exist=request.get("ifNoneExist"),
            override_reason=override,
        )
    match = _PUT_URL.match(url)
    if method == "PUT" and match is not None:
        if_match = _IF_MATCH.match(request.get("ifMatch") or "")
        if if_match is None:
            raise PreconditionRequiredError(
                f"Bundle.entry[{index}]: give request.ifMatch with the ETag you read."
            )
        patient = patient_replace(
            actor=actor,
            patient_id=UUID(match.group(1)),
            body=resource,
            version=int(if_match.group(2)),
        )
        return patient, 200
    raise _structure(index, "only POST Patient and PUT Patient/<id> are supported.")


def _entry_response(patient: Patient, status: int, base: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base}/Patient/{patient.id}",
        "resource": patient_json(patient),
        "response": {
            "status": _status_line(status),
            "location": f"Patient/{patient.id}/_history/{patient.version}",
            "etag": f'W/"{patient.version}"',
            "lastModified": patient.updated_at.isoformat(timespec="milliseconds"),
        },
    }


class SystemView(FhirView):
    """Process a batch or transaction Bundle (writes: the write roles)."""

    allowed_roles = FhirView.write_roles

    def post(self, request: Request) -> Response:
        bundle = parse_resource(request.data, "Bundle", Bundle)
        if bundle.type not in {"batch", "transaction"}:
            raise FhirStructureError(
                "Only batch and transaction Bundles are accepted.",
                errors=[FieldError("Bundle.type", "structure", "batch or transaction.")],
            )
        entries: list[dict[str, Any]] = list(request.data.get("entry") or [])
        if len(entries) > MAX_ENTRIES:
            raise FhirStructureError(f"At most {MAX_ENTRIES} entries per Bundle.")
        actor = request_principal(request)
        override = request.headers.get(DUPLICATE_OVERRIDE_HEADER)
        base = base_url(request)
        if bundle.type == "transaction":
            results = self._transaction(entries, actor, override)
            response_entries = [_entry_response(p, s, base) for p, s in results]
            read = [p.id for p, s in results if s == 200]
        else:
            response_entries, read = self._batch(entries, actor, override, base)
        # Found by If-None-Exist: logged as reads, with the grant that opened a restricted one.
        access = patients_access(actor, Patient.objects.filter(id__in=read))
        patient_access_log(
            actor=actor,
            patient_ids=read,
            details={pid: access[pid].audit_details() for pid in read},
        )
        response = Response(
            {
                "resourceType": "Bundle",
                "type": f"{bundle.type}-response",
                "entry": response_entries,
            }
        )
        response["Date"] = http_date()
        return response

    @staticmethod
    def _transaction(
        entries: list[dict[str, Any]], actor: Principal | None, override: str | None
    ) -> list[tuple[Patient, int]]:
        results = []
        with transaction.atomic():
            for index, entry in enumerate(entries):
                try:
                    results.append(_run_entry(index, entry, actor, override))
                except DomainError as exc:
                    if not exc.detail.startswith("Bundle.entry"):
                        exc.detail = f"Bundle.entry[{index}]: {exc.detail}"
                    raise
        return results

    @staticmethod
    def _batch(
        entries: list[dict[str, Any]], actor: Principal | None, override: str | None, base: str
    ) -> tuple[list[dict[str, Any]], list[UUID]]:
        answers: list[dict[str, Any]] = []
        read: list[UUID] = []
        for index, entry in enumerate(entries):
            try:
                with transaction.atomic():
                    patient, status = _run_entry(index, entry, actor, override)
            except DomainError as exc:
                answers.append(
                    {
                        "response": {
                            "status": str(exc.status),
                            "outcome": domain_error_outcome(exc),
                        }
                    }
                )
                continue
            if status == 200:
                read.append(patient.id)
            answers.append(_entry_response(patient, status, base))
        return answers, read
