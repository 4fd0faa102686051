"""Portrait endpoints: GET the JPEG, PUT an image (raw JPEG/PNG/WebP body) to store or replace
it, DELETE it. Changes need If-Match with the patient's ETag; every read is audited.

A restricted patient's portrait follows the restricted-patient rules (docs/SECURITY.md): without
a care-team or break-glass grant every method is 403 `restricted-patient`; a read through a grant
is audited with the grant id."""

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from registration.api.views import IF_MATCH, etag, expected_version
from registration.selectors.access import require_patient_access_by_id
from registration.selectors.patients import patient_get
from registration.selectors.portraits import portrait_get
from registration.services.patients import patient_access_log
from registration.services.portraits import portrait_remove, portrait_replace
from tenancy.api.permissions import HasTenantRole, request_principal
from tenancy.api.problems import problem_responses
from tenancy.models import Role

READ_ROLES = (Role.FRONT_DESK, Role.DATA_STEWARD, Role.INTEGRATOR)
WRITE_ROLES = (Role.FRONT_DESK, Role.INTEGRATOR)
JPEG = "image/jpeg"
UPLOAD_TYPES = frozenset({JPEG, "image/png", "image/webp"})


def _upload(request: Request) -> bytes:
    """The raw image body, read one byte past the limit so an oversized upload is refused."""
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if not content_type and not request.headers.get("Content-Length", "0").strip("0"):
        return b""  # no body at all: refused as an empty upload (422)
    if content_type not in UPLOAD_TYPES:
        raise UnsupportedMediaType(content_type or "none")
    stream = request.stream
    if stream is None:
        return b""
    data: bytes = stream.read(settings.PORTRAIT_MAX_UPLOAD_BYTES + 1)
    return data


class JPEGRenderer(BaseRenderer):
    """The stored portrait as image/jpeg; anything else (a problem) as JSON."""

    media_type = JPEG
    format = "jpg"
    charset = None
    render_style = "binary"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> Any:
        if isinstance(data, bytes):
            return data
        return JSONRenderer().render(data, accepted_media_type, renderer_context)


class PortraitApi(APIView):
    """A patient's portrait: read it, store or replace it, remove it."""

    permission_classes = [HasTenantRole]
    required_module = "portrait"
    allowed_roles = READ_ROLES
    write_roles = WRITE_ROLES
    parser_classes: list[type[BaseParser]] = []  # the body is read raw (see _upload)
    renderer_classes = [JPEGRenderer]  # one renderer: no `?format=` switch to confuse clients

    @extend_schema(
        operation_id="patients_portrait_read",
        responses={
            (200, JPEG): OpenApiResponse(OpenApiTypes.BINARY, description="The portrait."),
            **problem_responses(401, 403, 404, 406, 503),
        },
    )
    def get(self, request: Request, patient_id: UUID) -> Response:
        principal = request_principal(request)
        access = require_patient_access_by_id(principal, patient_id)
        image = portrait_get(patient_id=patient_id)
        patient_access_log(
            actor=principal,
            patient_ids=[patient_id],
            action="patient.portrait_read",
            details={patient_id: access.audit_details()},
        )
        response = Response(image.data, content_type=JPEG)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        operation_id="patients_portrait_replace",
        parameters=[IF_MATCH],
        request={
            "image/jpeg": OpenApiTypes.BINARY,
            "image/png": OpenApiTypes.BINARY,
            "image/webp": OpenApiTypes.BINARY,
        },
        responses={
            204: OpenApiResponse(description="Stored; the ETag header is the patient's version."),
            **problem_responses(400, 401, 403, 404, 409, 412, 413, 415, 422, 428, 503),
        },
    )
    def put(self, request: Request, patient_id: UUID) -> Response:
        require_patient_access_by_id(request_principal(request), patient_id)
        version = expected_version(request)
        portrait_replace(
            actor=request_principal(request),
            patient_id=patient_id,
            expected_version=version,
            image=_upload(request),
        )
        return self._no_content(patient_id)

    @extend_schema(
        operation_id="patients_portrait_remove",
        parameters=[IF_MATCH],
        responses={
            204: OpenApiResponse(description="Removed; the ETag header is the patient's version."),
            **problem_responses(400, 401, 403, 404, 409, 412, 428),
        },
    )
    def delete(self, request: Request, patient_id: UUID) -> Response:
        require_patient_access_by_id(request_principal(request), patient_id)
        version = expected_version(request)
        portrait_remove(
            actor=request_principal(request), patient_id=patient_id, expected_version=version
        )
        return self._no_content(patient_id)

    @staticmethod
    def _no_content(patient_id: UUID) -> Response:
        response = Response(status=204)
        response["ETag"] = etag(patient_get(patient_id=patient_id).version)
        return response
