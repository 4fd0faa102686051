"""FHIR R4 endpoints under /fhir/: parse, authorize, call a service or selector, render.

Every error is an OperationOutcome (see `outcome`); every response is
`application/fhir+json` unless the caller asked for `application/json` (Accept or `_format`).
"""

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, urlencode
from uuid import UUID

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.utils.http import http_date
from rest_framework import exceptions as drf
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from registration.api.views import READ_ROLES, WRITE_ROLES, expected_version
from registration.fhir.capability import capability_statement
from registration.fhir.mapping import (
    FhirNotSupportedError,
    check_input_against,
    masked_patient_json,
    patient_input_from_json,
    patient_json,
)
from registration.fhir.operations import OperationCall, patient_operation
from registration.fhir.outcome import FHIR_JSON, fhir_error_response
from registration.fhir.search import PAGE_TOKEN, SearchParameterError, parse_search
from registration.models import Confidentiality, Patient
from registration.selectors.access import (
    patient_access,
    patients_access,
    require_patient_access,
)
from registration.selectors.patient_filters import keyset_after, patients_where, reversed_order
from registration.selectors.patients import patient_get
from registration.selectors.portraits import with_portrait_rows
from registration.selectors.versions import patient_version_get, patient_version_list
from registration.services.patients import patient_access_log, patient_register, patient_update
from tenancy.api.permissions import HasTenantRole, request_principal
from tenancy.errors import FieldError, NotFoundError, PreconditionFailedError
from tenancy.modules import PUBLIC
from tenancy.principal import Principal

# Non-standard, documented: FHIR create has no way to say "I checked the likely duplicates".
DUPLICATE_OVERRIDE_HEADER = "X-Duplicate-Override-Reason"
FHIR_FORMATS = {"json", "fhir+json", "application/fhir+json", "application/json+fhir"}


class FhirJsonRenderer(JSONRenderer):
    """FHIR JSON (the default)."""

    media_type = FHIR_JSON
    format = "fhir"


class PlainJsonRenderer(JSONRenderer):
    """The same JSON for clients that ask for application/json."""

    media_type = "application/json"
    format = "json"


class FhirJsonParser(JSONParser):
    """Accept application/fhir+json bodies (and, by the plain parser, application/json)."""

    media_type = FHIR_JSON


class FhirNegotiation(DefaultContentNegotiation):
    """Honour `_format` first (FHIR's override of Accept), then Accept; XML is not offered."""

    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        offered = list(renderers)
        requested = request.query_params.get("_format")
        if requested is not None:
            if requested in FHIR_FORMATS:
                return offered[0], FHIR_JSON
            if requested == "application/json":
                return offered[1], "application/json"
            raise drf.NotAcceptable("Only JSON is supported (_format=json).")
        return cast(tuple[BaseRenderer, str], super().select_renderer(request, offered))


def _request_id(request: Request) -> str:
    return str(getattr(request._request, "request_id", ""))


def base_url(request: Request) -> str:
    """The absolute base of this FHIR server, e.g. https://host/fhir."""
    return request.build_absolute_uri("/fhir").rstrip("/")


class FhirView(APIView):
    """Common wiring of every FHIR endpoint: module, formats, roles, OperationOutcome."""

    required_module = "fhir"
    schema = None  # described by the CapabilityStatement, not the REST API's OpenAPI
    renderer_classes = [FhirJsonRenderer, PlainJsonRenderer]
    parser_classes = [FhirJsonParser, JSONParser]
    content_negotiation_class = FhirNegotiation
    permission_classes = [HasTenantRole]
    allowed_roles: tuple[str, ...] = READ_ROLES
    write_roles: tuple[str, ...] = WRITE_ROLES

    def get_exception_handler(self) -> Any:
        """Render every error of this view as an OperationOutcome."""

        def handle(exc: Exception, context: dict[str, Any]) -> Response:
            request = context.get("request")
            request_id = _request_id(request) if isinstance(request, Request) else ""
            return fhir_error_response(exc, request_id)

        return handle


def _resource_response(
    patient: Patient, request: Request, status: int = 200, *, location: bool = False
) -> Response:
    response = Response(patient_json(patient), status=status)
    response["ETag"] = f'W/"{patient.version}"'
    response["Last-Modified"] = http_date(patient.updated_at.timestamp())
    if location:
        response["Location"] = (
            f"{base_url(request)}/Patient/{patient.id}/_history/{patient.version}"
        )
    return response


def opened_patient(request: Request, patient_id: UUID) -> Patient:
    """The patient, if the caller may open it (restricted: a grant), access-logged with the
    grant it went through; RestrictedPatientError (403, break-glass hint) otherwise."""
    principal = request_principal(request)
    patient = patient_get(patient_id=patient_id)
    access = require_patient_access(principal, patient)
    patient_access_log(
        actor=principal, patient_ids=[patient.id], details={patient.id: access.audit_details()}
    )
    return patient


def _params(query: Mapping[str, Any]) -> dict[str, list[str]]:
    return {key: list(query.getlist(key)) for key in query}  # type: ignore[attr-defined]


# --- create / update (also used by batch and transaction bundles) ---------------------------


def patient_create(
    *,
    actor: Principal | None,
    body: object,
    if_none_exist: str | None = None,
    override_reason: str | None = None,
) -> tuple[Patient, int]:
    """Create a patient from a FHIR Patient, or find the one If-None-Exist names (200)."""
    if if_none_exist:
        query = parse_search(parse_qs(if_none_exist, keep_blank_values=True))
        found = list(
            patients_where(query.conditions, order_by=("id",), with_records=False).values_list(
                "id", flat=True
            )[:2]
        )
        if len(found) == 1:
            existing = patient_get(patient_id=found[0])
            require_patient_access(actor, existing)
            return existing, 200
        if found:
            raise PreconditionFailedError("If-None-Exist matches more than one patient.")
    parsed = patient_input_from_json(body)
    check_input_against(body, None)
    if parsed.active is False:
        raise FhirNotSupportedError(
            "A patient cannot be created inactive.",
            errors=[FieldError("Patient.active", "not-supported", "Omit it or send true.")],
        )
    patient = patient_register(
        actor=actor, data=parsed.data, duplicate_override_reason=override_reason
    )
    return patient_get(patient_id=patient.id), 201


def patient_replace(
    *, actor: Principal | None, patient_id: UUID, body: object, version: int
) -> Patient:
    """Replace a patient's record from a FHIR Patient (the version the caller read)."""
    parsed = patient_input_from_json(body)
    if cast(dict[str, Any], body).get("id") != str(patient_id):
        raise SearchParameterError(
            "The Patient's id must equal the id in the URL.",
            errors=[FieldError("Patient.id", "invalid", "Must equal the id in the URL.")],
        )
    current = patient_get(patient_id=patient_id)
    require_patient_access(actor, current)
    check_input_against(body, current)
    if parsed.active is False and current.active:
        raise FhirNotSupportedError(
            "Deactivation is not done by update; use the REST deactivate endpoint.",
            errors=[FieldError("Patient.active", "not-supported", "Deactivate separately.")],
        )
    patient_update(actor=actor, patient_id=patient_id, expected_version=version, data=parsed.data)
    return patient_get(patient_id=patient_id)


# --- endpoints ---------------------------------------------------------------------------------


class MetadataView(FhirView):
    """The CapabilityStatement (public, as FHIR clients read it before authenticating; it
    describes the server, never a tenant's data, so it needs no licence either)."""

    required_module = PUBLIC
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response(capability_statement(base_url=base_url(request), software_version="1"))


class PatientTypeView(FhirView):
    """Search patients (PDQm ITI-78) and create one (with conditional If-None-Exist)."""

    def get(self, request: Request) -> Response:
        return _search(request, _params(request.query_params))

    def post(self, request: Request) -> Response:
        patient, status = patient_create(
            actor=request_principal(request),
            body=request.data,
            if_none_exist=request.headers.get("If-None-Exist"),
            override_reason=request.headers.get(DUPLICATE_OVERRIDE_HEADER),
        )
        if status == 200:
            opened_patient(request, patient.id)
        return _resource_response(patient, request, status, location=True)


class PatientSearchView(FhirView):
    """`POST Patient/_search`: the search with form-encoded parameters (a read)."""

    parser_classes = [FormParser]
    write_roles = READ_ROLES

    def post(self, request: Request) -> Response:
        params = _params(request.query_params)
        for key, values in _params(request.data).items():
            params.setdefault(key, []).extend(values)
        return _search(request, params)


class PatientInstanceView(FhirView):
    """Read and update one patient."""

    def get(self, request: Request, patient_id: UUID) -> Response:
        return _resource_response(opened_patient(request, patient_id), request)

    def put(self, request: Request, patient_id: UUID) -> Response:
        version = expected_version(request)
        patient = patient_replace(
            actor=request_principal(request),
            patient_id=patient_id,
            body=request.data,
            version=version,
        )
        return _resource_response(patient, request)


class PatientVersionView(FhirView):
    """`vread`: any version this server still holds (every version since versions are kept)."""

    def get(self, request: Request, patient_id: UUID, version_id: str) -> Response:
        principal = request_principal(request)
        patient = patient_get(patient_id=patient_id)
        access = require_patient_access(principal, patient)
        found = (
            patient_version_get(patient=patient, version=int(version_id))
            if version_id.isdigit()
            else None
        )
        if found is None:
            older = version_id.isdigit() and 1 <= int(version_id) < patient.version
            raise NotFoundError(
                "That version existed but was superseded before this server kept versions."
                if older
                else "No such version."
            )
        if found is not patient:
            # The rules of the version read: a version that was restricted needs a grant too.
            access = require_patient_access(principal, found)
        patient_access_log(
            actor=principal, patient_ids=[patient.id], details={patient.id: access.audit_details()}
        )
        return _resource_response(found, request)


class PatientHistoryView(FhirView):
    """`history-instance`: every version still held, newest first, each with its content."""

    def get(self, request: Request, patient_id: UUID) -> Response:
        unsupported = sorted(set(request.query_params) - {"_format"})
        if unsupported:
            raise SearchParameterError(
                "History parameters (_since, _at, _count, …) are not supported.",
                errors=[
                    FieldError(name, "invalid", "Not supported by this server.")
                    for name in unsupported
                ],
            )
        patient = opened_patient(request, patient_id)
        versions = patient_version_list(patient=patient)
        # The caller may open the current record; a version that was restricted then is
        # shown masked unless the caller holds a grant (the same answer as a search).
        principal = request_principal(request)
        grant: list[bool] = []  # asked once, on the first restricted older version

        def allowed(version: Patient) -> bool:
            if version is patient or version.confidentiality != Confidentiality.RESTRICTED:
                return True
            if not grant:
                grant.append(patient_access(principal, version).allowed)
            return grant[0]

        url = f"{base_url(request)}/Patient/{patient_id}"
        entries = []
        for version in versions:
            created = version.version == 1
            entries.append(
                {
                    "fullUrl": url,
                    "resource": _shown(version, allowed=allowed(version)),
                    "request": {
                        "method": "POST" if created else "PUT",
                        "url": "Patient" if created else f"Patient/{patient_id}",
                    },
                    "response": {
                        "status": "201 Created" if created else "200 OK",
                        "etag": f'W/"{version.version}"',
                        "lastModified": version.updated_at.isoformat(timespec="milliseconds"),
                    },
                }
            )
        return Response(
            {
                "resourceType": "Bundle",
                "type": "history",
                "total": len(entries),
                "link": [{"relation": "self", "url": f"{url}/_history"}],
                "entry": entries,
            }
        )


class PatientOperationView(FhirView):
    """`Patient/$<name>`: dispatch to an operation registered by a higher layer."""

    parser_classes = [FhirJsonParser, JSONParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """Look the operation up first: its roles decide the permission check."""
        operation = patient_operation(str(kwargs.get("name", "")))
        if operation is None:
            raise NotFoundError("No such operation.")
        if (request.method or "") not in operation.methods:
            raise drf.MethodNotAllowed(request.method or "")
        self.allowed_roles = operation.roles
        self.write_roles = operation.roles
        super().initial(request, *args, **kwargs)

    def _call(self, request: Request, name: str) -> Response:
        operation = patient_operation(name)
        if operation is None:  # pragma: no cover - initial() already refused it
            raise NotFoundError("No such operation.")
        result = operation.handler(
            OperationCall(
                principal=request_principal(request),
                method=request.method or "",
                params=_params(request.query_params),
                body=request.data if request.method == "POST" else None,
                base_url=base_url(request),
            )
        )
        return Response(result.resource, status=result.status)

    def get(self, request: Request, name: str) -> Response:
        return self._call(request, name)

    def post(self, request: Request, name: str) -> Response:
        return self._call(request, name)


# --- search ------------------------------------------------------------------------------------


def _fernet() -> Fernet:
    digest = hashlib.sha256(f"fhir-page:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _query_key(canonical: Sequence[tuple[str, str]]) -> str:
    return hashlib.sha256(urlencode(list(canonical)).encode()).hexdigest()[:16]


# A page token names the row a page starts after (`next`) or ends before (`previous`) by its
# sort values: keyset paging, as deep as the results go, each page one index range read.
NEXT, PREVIOUS = "n", "p"


@dataclass(frozen=True, slots=True)
class PageToken:
    """Where a page starts: after (or, going back, before) the row with these sort values."""

    direction: str
    values: tuple[Any, ...]


def _sort_values(patient: Patient, order_by: Sequence[str]) -> list[Any]:
    values = [getattr(patient, column.removeprefix("-")) for column in order_by]
    return [value if value is None else str(value) for value in values]


def _page_token(token: PageToken, canonical: Sequence[tuple[str, str]]) -> str:
    payload = json.dumps({"d": token.direction, "k": token.values, "q": _query_key(canonical)})
    return _fernet().encrypt(payload.encode()).decode("ascii")


def _read_page_token(
    token: str | None, canonical: Sequence[tuple[str, str]], order_by: Sequence[str]
) -> PageToken | None:
    """The page a token stands for; it only fits the search that issued it."""
    if token is None:
        return None
    try:
        payload = json.loads(_fernet().decrypt(token.encode("ascii")))
        if payload["q"] != _query_key(canonical) or payload["d"] not in {NEXT, PREVIOUS}:
            raise ValueError(payload["d"])
        columns = {f.name: f for f in Patient._meta.concrete_fields}
        fields = [columns[column.removeprefix("-")] for column in order_by]
        values = tuple(payload["k"])
        for field, value in zip(fields, values, strict=True):
            if value is not None:
                field.to_python(value)  # refuse what is not of the column's type
    except (
        InvalidToken,
        UnicodeError,
        ValueError,
        KeyError,
        TypeError,
        DjangoValidationError,
    ) as exc:
        raise SearchParameterError(
            "The page token was not issued for this search.",
            errors=[FieldError(PAGE_TOKEN, "invalid", "Follow the Bundle's links as given.")],
        ) from exc
    return PageToken(payload["d"], values)


def _page(
    patients: QuerySet[Patient], order_by: Sequence[str], count: int, at: PageToken | None
) -> tuple[list[Patient], bool, bool]:
    """One page in `order_by`, and whether rows exist before and after it."""
    if not count:
        return [], False, False
    if at is None:
        rows = list(patients[: count + 1])
        return rows[:count], False, len(rows) > count
    if at.direction == NEXT:
        rows = list(patients.filter(keyset_after(order_by, at.values))[: count + 1])
        return rows[:count], True, len(rows) > count
    backwards = reversed_order(order_by)
    rows = list(
        patients.filter(keyset_after(backwards, at.values)).order_by(*backwards)[: count + 1]
    )
    return rows[:count][::-1], len(rows) > count, True


def _shown(patient: Patient, *, allowed: bool) -> dict[str, Any]:
    return patient_json(patient) if allowed else masked_patient_json(patient)


def _search(request: Request, params: dict[str, list[str]]) -> Response:
    query = parse_search(params)
    patients = with_portrait_rows(patients_where(query.conditions, order_by=query.order_by))
    base = base_url(request)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if query.summary_count or query.total != "none":
        bundle["total"] = patients.count()
    canonical = [*query.canonical, ("_count", str(query.count))]
    if query.summary_count:
        bundle["link"] = [{"relation": "self", "url": f"{base}/Patient?{urlencode(canonical)}"}]
        return Response(bundle)
    at = _read_page_token(query.page_token, canonical, query.order_by)
    page, earlier, later = _page(patients, query.order_by, query.count, at)

    def link(relation: str, token: PageToken | None) -> dict[str, str]:
        tokens = [(PAGE_TOKEN, _page_token(token, canonical))] if token else []
        return {"relation": relation, "url": f"{base}/Patient?{urlencode(canonical + tokens)}"}

    links = [link("self", at)]
    if later and page:
        links.append(link("next", PageToken(NEXT, tuple(_sort_values(page[-1], query.order_by)))))
    if earlier and page:
        first = PageToken(PREVIOUS, tuple(_sort_values(page[0], query.order_by)))
        links.append(link("previous", first))
    bundle["link"] = links
    principal = request_principal(request)
    # As the REST search: a restricted patient the caller may not open is listed masked.
    access = patients_access(principal, page)
    bundle["entry"] = [
        {
            "fullUrl": f"{base}/Patient/{patient.id}",
            "resource": _shown(patient, allowed=access[patient.id].allowed),
            "search": {"mode": "match"},
        }
        for patient in page
    ]
    patient_access_log(
        actor=principal,
        patient_ids=[p.id for p in page],
        action="patient.searched",
        details={p.id: access[p.id].audit_details() for p in page},
    )
    return Response(bundle)
