"""The documented shape of cursor-paginated list responses."""

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

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
    """Cursor paging where an unknown cursor is a 422 on the `cursor` field, not a 404.

    Any string is a well-formed cursor (so not a 400); one this API did not issue is
    unprocessable.
    """

    page_size_query_param = "page_size"
    max_page_size = 100

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            raise ValidationFailedError(
                "The cursor was not issued by this API.",
                errors=[
                    FieldError("cursor", "invalid_cursor", "Use `next` or `previous` as given.")
                ],
            ) from exc
