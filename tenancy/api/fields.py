"""JSON body fields that take the JSON type the schema states, and nothing DRF would coerce.

DRF turns `0` into `"0"` for a CharField and `"5"` into 5 for an IntegerField, which is
convenient for HTML forms but lets a JSON body that breaks the documented schema through.
"""

from typing import Any

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A string, and only a string, kept as sent (the services decide what blank means)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictRegexField(serializers.RegexField):
    """A string matching a pattern, and only a string."""

    def __init__(self, regex: str, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(regex, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        # Python's `$` also matches before a final newline; ECMAScript's (OpenAPI's) does not.
        if not isinstance(data, str) or data.endswith("\n"):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: not a string, a float or a boolean."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))
