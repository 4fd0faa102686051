"""Keeping PHI out of log lines and span attributes: keys, patterns and the request's own values.

Three nets, applied by `redact_text` / `redact_value`:

1. **Keys**: a value stored under a known PHI key (`birth_date`, `family`, `telecom`,
   `identifiers`, ... in any case or spelling: `birthDate`, `date-of-birth`) is replaced whole,
   nested structures included.
2. **Patterns**: e-mail addresses, dates (ISO `1984-03-07`, `07/03/1984`, `07.03.1984`; a
   timestamp with a time of day is left alone: birth dates carry none), phone-like numbers
   (nine digits or more, with the usual separators; dotted IPv4 addresses are kept).
3. **Values known to the request**: `phi_values_register` records what the caller sent (the
   names, identifier values, phone numbers, ... of a registration or a search) and every later
   occurrence of them in the same request or task is replaced, whatever the context
   (`"duplicate key (system, value)=(urn:mrn, 884213)"`).

Nothing here is a guarantee against free text a developer writes into a message on purpose;
the rule stays "log ids, never values" (docs/OBSERVABILITY.md). This is the safety net.
"""

import re
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from typing import Any

REDACTED = "[redacted]"

# Normalised (lower case, no separators) keys whose values are PHI.
PHI_KEYS = frozenset(
    {
        "name",
        "names",
        "family",
        "familyname",
        "given",
        "givenname",
        "firstname",
        "lastname",
        "fullname",
        "middlename",
        "maidenname",
        "patientname",
        "birthdate",
        "dateofbirth",
        "dob",
        "deceaseddate",
        "deceaseddatetime",
        "dateofdeath",
        "birthplace",
        "phone",
        "phonenumber",
        "mobile",
        "telecom",
        "telecoms",
        "email",
        "emailaddress",
        "address",
        "addresses",
        "line",
        "lines",
        "city",
        "postalcode",
        "zip",
        "zipcode",
        "identifier",
        "identifiers",
        "personidentifier",
        "ssn",
        "mrn",
        "contact",
        "contacts",
        "portrait",
        "photo",
    }
)

# Keys inside PHI structures whose values are codes, not PHI (kept out of the request's values,
# so that e.g. the word "official" is not redacted from every later line).
_CODE_KEYS = frozenset(
    {"use", "system", "type", "typecode", "rank", "period", "start", "end", "country", "state"}
)

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_DATE = re.compile(
    r"(?<![\w.:/-])(?:"
    r"\d{4}-\d{1,2}-\d{1,2}(?![T ]\d{1,2}:)"  # ISO date, but not a timestamp
    r"|\d{1,2}[/.-]\d{1,2}[/.-]\d{4}"  # 07/03/1984, 07.03.1984, 07-03-1984
    r"|\d{4}/\d{1,2}/\d{1,2}"
    r")(?![\w/-])"
)
_PHONE = re.compile(r"(?<![\w.-])\+?\(?\d[\d ()./-]{6,}\d(?![\w-])")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
# Timestamps (a date with a time of day) are never birth dates: kept whole, never taken apart
# by the date or phone patterns.
_TIMESTAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)"
)
_MIN_PHONE_DIGITS = 9
_MIN_KNOWN_LENGTH = 2
# Bounds on what one request may register, so a huge body cannot make every log line slow.
MAX_KNOWN_VALUES = 256
MAX_KNOWN_LENGTH = 256

_known: ContextVar[tuple[frozenset[str], re.Pattern[str] | None]] = ContextVar(
    "phi_known_values", default=(frozenset(), None)
)


def normalise_key(key: object) -> str:
    """`birthDate`, `birth_date`, `Birth-Date` -> `birthdate`."""
    return re.sub(r"[^a-z0-9]", "", str(key).lower())


def is_phi_key(key: object) -> bool:
    """True when values stored under `key` are PHI."""
    return normalise_key(key) in PHI_KEYS


def phi_values_reset() -> None:
    """Forget the values of the previous request or task (the middleware calls it first)."""
    _known.set((frozenset(), None))


def phi_values_register(values: Iterable[object]) -> None:
    """Remember PHI values the current request or task carries, to redact them anywhere."""
    known, _ = _known.get()
    added = {str(v).strip() for v in values if v is not None and not isinstance(v, bool)}
    added = {v for v in added if _MIN_KNOWN_LENGTH <= len(v) <= MAX_KNOWN_LENGTH} - known
    if not added:
        return
    room = MAX_KNOWN_VALUES - len(known)
    merged = known | set(sorted(added)[: max(0, room)])
    if merged == known:
        return
    # Longest first, so "Anna Maria" is replaced before "Anna".
    alternatives = "|".join(re.escape(v) for v in sorted(merged, key=len, reverse=True))
    _known.set((merged, re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)))


def phi_values_known() -> frozenset[str]:
    """What the current request or task registered (tests, diagnostics)."""
    return _known.get()[0]


def phi_values_from(data: object, *, under_phi: bool = False) -> list[str]:
    """The PHI leaves of a parsed JSON document or query: values under PHI keys, at any depth
    (walked without recursion, so a deeply nested body cannot exhaust the stack)."""
    found: list[str] = []
    pending: list[tuple[object, bool]] = [(data, under_phi)]
    while pending:
        item, phi = pending.pop()
        if isinstance(item, Mapping):
            for key, value in reversed(list(item.items())):
                normalised = normalise_key(key)
                if phi and normalised in _CODE_KEYS:
                    continue
                pending.append((value, phi or normalised in PHI_KEYS))
        elif isinstance(item, list | tuple):
            pending.extend((element, phi) for element in reversed(item))
        elif phi and isinstance(item, str | int | float) and not isinstance(item, bool):
            text = str(item)
            found.append(text)
            if "|" in text:  # identifier search syntax: system|value
                found.append(text.rsplit("|", 1)[1])
    return found


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    if _IPV4.match(text) or sum(c.isdigit() for c in text) < _MIN_PHONE_DIGITS:
        return text
    return REDACTED


def redact_text(text: str) -> str:
    """`text` with e-mails, dates, phone-like numbers and the request's PHI values replaced."""
    if not text:
        return text
    text = _EMAIL.sub(REDACTED, text)
    _, known = _known.get()
    if known is not None:
        text = known.sub(REDACTED, text)
    parts = _TIMESTAMP.split(text)  # odd indexes: the timestamps, kept
    for index in range(0, len(parts), 2):
        parts[index] = _PHONE.sub(_phone, _DATE.sub(REDACTED, parts[index]))
    return "".join(parts)


def redact_value(key: object, value: Any) -> Any:
    """`value` as it may be logged under `key`: whole if the key is PHI, else redacted inside."""
    if value is None or isinstance(value, bool | int | float):
        return REDACTED if is_phi_key(key) and value is not None else value
    if is_phi_key(key):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(key, v) for v in value]
    return redact_text(str(value))
