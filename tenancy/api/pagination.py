"""The documented shape of cursor-paginated list responses."""

import base64
import hashlib
from typing import Any
from urllib import parse

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from rest_framework import serializers
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

from tenancy.api.fields import StrictCharField
from tenancy.errors import FieldError, ValidationFailedError


def cursor_page_of(
    item: type[serializers.Serializer[Any]], name: str
) -> type[serializers.Serializer[Any]]:
    """A serializer describing one page: `next`/`previous` cursor URLs and the `results`."""
    fields: dict[str, Any] = {
        "__doc__": f"One page of {item.__name__} results; follow `next` for more.",
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": item(many=True),
    }
    return type(name, (serializers.Serializer,), fields)


class CursorQuerySerializer(serializers.Serializer[Any]):
    """Paging parameters every cursor-paginated list accepts (documented and validated)."""

    PAGING_FIELDS = ("cursor", "page_size")

    cursor = StrictCharField(required=False, max_length=500, help_text="From `next`/`previous`.")
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=100)

    def criteria(self) -> dict[str, Any]:
        """The validated parameters other than paging."""
        return {k: v for k, v in self.validated_data.items() if k not in self.PAGING_FIELDS}


class StrictCursorPagination(CursorPagination):
    """Opaque cursor paging; an unknown cursor is a 422 on the `cursor` field, not a 404.

    DRF's cursor carries the position in clear (base64 of the ordering value: a patient's
    folded name, here), which would put PHI into URLs and access logs. The cursor is therefore
    encrypted and authenticated (Fernet, key derived from SECRET_KEY): callers see an opaque
    token, and one this API did not issue is unprocessable (any string is well-formed, so not
    a 400).
    """

    page_size_query_param = "page_size"
    max_page_size = 100

    @staticmethod
    def _fernet() -> Fernet:
        digest = hashlib.sha256(f"cursor:{settings.SECRET_KEY}".encode()).digest()
        return Fernet(base64.urlsafe_b64encode(digest))

    def encode_cursor(self, cursor: Cursor) -> str:
        tokens: dict[str, str] = {}
        if cursor.offset != 0:
            tokens["o"] = str(cursor.offset)
        if cursor.reverse:
            tokens["r"] = "1"
        if cursor.position is not None:
            tokens["p"] = str(cursor.position)
        token = self._fernet().encrypt(parse.urlencode(tokens).encode()).decode("ascii")
        return str(replace_query_param(self.base_url or "", self.cursor_query_param, token))

    def decode_cursor(self, request: Request) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            tokens = parse.parse_qs(
                self._fernet().decrypt(encoded.encode("ascii")).decode(), keep_blank_values=True
            )
            offset = int(tokens.get("o", ["0"])[0])
            if not 0 <= offset <= self.offset_cutoff:
                raise ValueError(offset)
            return Cursor(
                offset=offset,
                reverse=tokens.get("r", ["0"])[0] == "1",
                position=tokens.get("p", [None])[0],  # type: ignore[arg-type]  # DRF positions are strings; the stub says int
            )
        except (InvalidToken, UnicodeError, ValueError) as exc:
            raise ValidationFailedError(
                "The cursor was not issued by this API.",
                errors=[
                    FieldError("cursor", "invalid_cursor", "Use `next` or `previous` as given.")
                ],
            ) from exc
