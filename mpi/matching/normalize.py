"""Canonical forms for raw patient data, so that comparisons measure people, not typing habits.

Records reach the Master Patient Index from many feeds: accents may be present or stripped,
surnames hyphenated or spaced, dates known only to the year, phones with or without a country
code. Every comparator works on the forms produced here. Placeholder values that feeds use
when they do not know something ("BABY GIRL", "000-00-0000", a clinic's own phone number) are
recognised here too, so that the rest of the engine can treat them as missing, never as evidence.
"""

from __future__ import annotations

import calendar
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

import jellyfish

# Letters that Unicode decomposition leaves alone but that people routinely type without the
# stroke or ligature (Søren / Soren, Łukasz / Lukasz).
_LETTER_TRANSLITERATIONS = str.maketrans(
    {
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "æ": "ae",
        "œ": "oe",
        "ß": "ss",
        "\u0131": "i",
        "ħ": "h",
        "ŀ": "l",
    }
)


def _strip_marks(text: str) -> str:
    """Drop combining marks (accents, diacritics) left over after decomposition."""
    return "".join(char for char in text if not unicodedata.category(char).startswith("M"))


# Runs of anything but ASCII letters and digits (the separators of folded ASCII text).
_NOT_ASCII_ALNUM = re.compile(r"[^a-z0-9]+")


@functools.lru_cache(maxsize=65_536)
def fold_text(value: str) -> str:
    """Fold text to lower-case, accent-free alphanumeric words separated by single spaces.

    Decomposition runs before and after case folding because each can expose work for the
    other (a compatibility letter may decompose to a capital; case folding may produce a
    precomposed letter). The result is a fixed point: folding it again changes nothing.

    ASCII text, most of what feeds send, takes a shorter path with the same result: it has
    no decompositions or marks, and its case folding is lower-casing. Cached, because a
    batch folds the same names and cities over and over (a third of its scoring time was
    spent here); the function is pure, so a cache cannot change a result.
    """
    if value.isascii():
        return " ".join(_NOT_ASCII_ALNUM.sub(" ", value.lower()).split())
    return fold_unicode_text(value)


def fold_unicode_text(value: str) -> str:
    """`fold_text` for any text: decompose, drop marks, case-fold, keep letters and digits."""
    decomposed = _strip_marks(unicodedata.normalize("NFKD", value))
    folded = _strip_marks(unicodedata.normalize("NFKD", decomposed.casefold()))
    folded = folded.translate(_LETTER_TRANSLITERATIONS)
    return " ".join("".join(char if char.isalnum() else " " for char in folded).split())


# Surname particles: kept in the name, but sharing one ("de", "van") is not evidence.
NAME_PARTICLES = frozenset(
    {
        "al",
        "bin",
        "da",
        "das",
        "de",
        "del",
        "della",
        "der",
        "des",
        "di",
        "do",
        "dos",
        "du",
        "el",
        "la",
        "las",
        "le",
        "los",
        "mac",
        "mc",
        "san",
        "st",
        "ten",
        "ter",
        "van",
        "von",
        "y",
    }
)

# Titles and generational suffixes that feeds sometimes put inside a name field.
_NAME_NOISE_TOKENS = frozenset({"mr", "mrs", "ms", "miss", "dr", "jr", "sr", "ii", "iii", "iv"})


def normalize_name(value: str | None) -> str | None:
    """Fold a name and drop titles and suffixes; None when nothing meaningful is left.

    Hyphens and apostrophes become spaces, so "García-López" becomes "garcia lopez".
    """
    if value is None:
        return None
    tokens = [token for token in fold_text(value).split() if token not in _NAME_NOISE_TOKENS]
    return " ".join(tokens) or None


def name_tokens(name: str) -> tuple[str, ...]:
    """Split a normalized name into its parts ("garcia lopez" -> ("garcia", "lopez"))."""
    return tuple(name.split())


def name_key(name: str) -> str:
    """Join a name's parts so spacing differences vanish ("van der berg" == "vanderberg")."""
    return "".join(name_tokens(name))


def significant_name_tokens(name: str) -> frozenset[str]:
    """Parts of a name that identify a family: particles and initials are left out."""
    return frozenset(
        token for token in name_tokens(name) if token not in NAME_PARTICLES and len(token) > 1
    )


def phonetic_keys(name: str) -> tuple[str, str]:
    """NYSIIS and Metaphone keys of a name, for matching names that sound alike."""
    key = name_key(name)
    return jellyfish.nysiis(key), jellyfish.metaphone(key)


# Each group lists given names that people use interchangeably for the same person.
NICKNAME_GROUPS: tuple[frozenset[str], ...] = tuple(
    frozenset(group.split())
    for group in (
        "william bill will billy willy willie liam",
        "robert bob rob bobby robbie bert",
        "elizabeth elisabeth liz lizzie beth betty bess betsy eliza libby",
        "margaret maggie peggy meg marge margie greta",
        "richard rick ricky rich dick",
        "james jim jimmy jamie",
        "john jack johnny",
        "jonathan jon jonny",
        "joseph joe joey",
        "charles charlie chuck chas",
        "thomas tom tommy",
        "michael mike mikey mick",
        "christopher chris kit topher",
        "daniel dan danny",
        "matthew matt",
        "anthony tony",
        "edward ed eddie ted ned",
        "andrew andy drew",
        "steven stephen steve",
        "joshua josh",
        "benjamin ben benny",
        "samuel sam sammy",
        "alexander alex al xander sandy",
        "nicholas nick nicky",
        "timothy tim timmy",
        "patrick pat paddy",
        "gregory greg",
        "lawrence laurence larry",
        "jeffrey geoffrey jeff",
        "kenneth ken kenny",
        "ronald ron ronnie",
        "donald don donnie",
        "raymond ray",
        "gerald gerry jerry",
        "harold hal harry",
        "henry hank harry hal",
        "frederick fred freddie freddy",
        "francis frank frankie",
        "theodore ted teddy theo",
        "albert al bert",
        "alfred alf alfie fred",
        "peter pete",
        "douglas doug",
        "leonard leo len lenny",
        "eugene gene",
        "walter walt wally",
        "vincent vince vinny",
        "nathaniel nathan nate nat",
        "zachary zach zack",
        "phillip philip phil",
        "jacob jake",
        "abraham abe",
        "isaac ike",
        "ezekiel zeke",
        "elijah eli",
        "jeremiah jeremy jerry",
        "tobias toby",
        "herbert herb bert",
        "bernard bernie",
        "stanley stan",
        "clifford cliff",
        "mitchell mitch",
        "reginald reg reggie",
        "randolph randall randy",
        "augustus august gus",
        "dominic dominick dom",
        "wesley wes",
        "catherine katherine kathryn katharine kate kathy katie cathy kat kit",
        "patricia pat patty trish tricia",
        "jennifer jen jenny",
        "susan suzanne sue susie",
        "deborah debra deb debbie",
        "dorothy dot dottie",
        "barbara barb babs",
        "rebecca becky becca",
        "victoria vicky tori",
        "jessica jess jessie",
        "christine christina chris chrissy tina",
        "abigail abby gail",
        "alexandra alex lexi sandra sandy",
        "amanda mandy",
        "samantha sam sammy",
        "kimberly kim",
        "cynthia cindy",
        "judith judy",
        "pamela pam",
        "theresa teresa terry tess tessa",
        "virginia ginny",
        "frances fran frankie",
        "eleanor ellie nell nora",
        "helen nell",
        "josephine jo josie",
        "jacqueline jackie",
        "mary molly polly mae mamie",
        "ann anne anna annie nan nancy",
        "sarah sara sally sadie",
        "caroline carol carrie",
        "valerie val",
        "melissa missy mel",
        "angela angie",
        "stephanie steph",
        "isabel isabella isabelle izzy bella",
        "gabrielle gabriella gabby",
        "allison alison ally",
        "madeline madeleine maddie",
        "nicole nikki",
        "martha marty mattie",
        "harriet hattie",
        "matilda mathilda tilly maud",
        "sophia sophie",
        "cassandra cassie",
        "lorraine lori",
        "louise lou",
        "louis lou",
    )
)

_NICKNAME_INDEX: dict[str, frozenset[int]] = {}
for _group_number, _group in enumerate(NICKNAME_GROUPS):
    for _name in _group:
        _NICKNAME_INDEX[_name] = _NICKNAME_INDEX.get(_name, frozenset()) | {_group_number}


def _alias_candidates(name: str) -> tuple[str, ...]:
    """The whole given name and its first part: "Mary Ann" is looked up as both."""
    tokens = name_tokens(name)
    return (name_key(name), tokens[0])


def are_given_name_aliases(left: str | None, right: str | None) -> bool:
    """Whether two given names are the same name or known nicknames of each other.

    Nicknames are not transitive: "Harry" is an alias of both "Harold" and "Henry", which are
    not aliases of each other.
    """
    left_name, right_name = normalize_name(left), normalize_name(right)
    if left_name is None or right_name is None:
        return False
    if name_key(left_name) == name_key(right_name):
        return True
    return any(
        _NICKNAME_INDEX.get(left_candidate, frozenset())
        & _NICKNAME_INDEX.get(right_candidate, frozenset())
        for left_candidate in _alias_candidates(left_name)
        for right_candidate in _alias_candidates(right_name)
    )


@dataclass(frozen=True, order=True)
class PartialDate:
    """A birth date known to the year, the month, or the day.

    Feeds often know only part of a birth date ("1980", "1980-05"); keeping the precision lets
    the comparator tell "unknown" apart from "different".
    """

    year: int
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        """Reject impossible dates, so comparisons never reason about 31 February."""
        if not 1 <= self.year <= 9999:
            raise ValueError(f"year out of range: {self.year}")
        if self.month is None:
            if self.day is not None:
                raise ValueError("a day needs a month")
            return
        if not 1 <= self.month <= 12:
            raise ValueError(f"month out of range: {self.month}")
        if (
            self.day is not None
            and not 1 <= self.day <= calendar.monthrange(self.year, self.month)[1]
        ):
            raise ValueError(f"day out of range: {self.year}-{self.month:02d}-{self.day}")

    @classmethod
    def from_date(cls, value: date) -> PartialDate:
        """Wrap a complete calendar date."""
        return cls(value.year, value.month, value.day)

    @property
    def is_complete(self) -> bool:
        """Whether year, month and day are all known."""
        return self.day is not None

    def isoformat(self) -> str:
        """ISO 8601 text at the known precision: "1980", "1980-05" or "1980-05-17"."""
        text = f"{self.year:04d}"
        if self.month is not None:
            text += f"-{self.month:02d}"
        if self.day is not None:
            text += f"-{self.day:02d}"
        return text


_PARTIAL_DATE_PATTERN = re.compile(r"(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?")


def parse_partial_date(value: str | date | PartialDate | None) -> PartialDate | None:
    """Read "YYYY", "YYYY-MM", "YYYY-MM-DD" (or a date) into a PartialDate.

    Blank input means unknown and gives None; malformed or impossible dates raise ValueError,
    because guessing at a birth date would manufacture evidence.
    """
    if value is None or isinstance(value, PartialDate):
        return value
    if isinstance(value, datetime):
        return PartialDate.from_date(value.date())
    if isinstance(value, date):
        return PartialDate.from_date(value)
    text = value.strip()
    if not text:
        return None
    match = _PARTIAL_DATE_PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(f"not a (partial) ISO date: {value!r}")
    year, month, day = match.groups()
    return PartialDate(
        int(year),
        None if month is None else int(month),
        None if day is None else int(day),
    )


_COMPARED_PHONE_DIGITS = 10
_SHORTEST_PHONE_DIGITS = 7


def normalize_phone(value: str | None, *, country_code: str | None = None) -> str | None:
    """Reduce a phone number to the digits that identify a line (at most the last ten).

    A leading "1" of an 11-digit North American number, or the tenant's configured country
    code, is dropped so that "+1 (617) 555-0100" and "617.555.0100" compare equal. Numbers
    too short to identify a line give None.
    """
    if value is None:
        return None
    digits = re.sub(r"\D", "", value)
    if country_code and digits.startswith(country_code) and len(digits) > _COMPARED_PHONE_DIGITS:
        digits = digits[len(country_code) :]
    elif len(digits) == _COMPARED_PHONE_DIGITS + 1 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) < _SHORTEST_PHONE_DIGITS:
        return None
    return digits[-_COMPARED_PHONE_DIGITS:]


def normalize_postal_code(value: str | None) -> str | None:
    """Upper-case a postal code without spaces or dashes; a US ZIP+4 keeps its 5-digit ZIP."""
    if value is None:
        return None
    code = fold_text(value).replace(" ", "").upper()
    if len(code) == 9 and code.isdigit():
        code = code[:5]
    return code or None


_EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+")


def normalize_email(value: str | None) -> str | None:
    """Trim and case-fold an e-mail address; None when it is not an address at all."""
    if value is None:
        return None
    email = unicodedata.normalize("NFKC", value).strip().casefold()
    return email if _EMAIL_PATTERN.fullmatch(email) else None


def normalize_identifier_system(value: str | None) -> str | None:
    """Trim and case-fold an identifier system so "SSN" and "ssn" are one system."""
    if value is None:
        return None
    return value.strip().casefold() or None


def normalize_identifier_value(value: str | None) -> str | None:
    """Keep an identifier's letters and digits only: "000-12-3456" becomes "000123456"."""
    if value is None:
        return None
    return fold_text(value).replace(" ", "").upper() or None


_SEX_SYNONYMS = {
    "m": "male",
    "male": "male",
    "man": "male",
    "boy": "male",
    "f": "female",
    "female": "female",
    "woman": "female",
    "girl": "female",
    "o": "other",
    "other": "other",
    "x": "other",
    "nonbinary": "other",
    "non binary": "other",
    "intersex": "other",
}


def normalize_sex(value: str | None) -> str | None:
    """Map administrative sex codes to "male", "female", "other" or "unknown"."""
    if value is None:
        return None
    return _SEX_SYNONYMS.get(fold_text(value), "unknown")


_ADDRESS_ABBREVIATIONS = {
    "street": "st",
    "avenue": "ave",
    "av": "ave",
    "road": "rd",
    "drive": "dr",
    "lane": "ln",
    "boulevard": "blvd",
    "court": "ct",
    "place": "pl",
    "square": "sq",
    "terrace": "ter",
    "circle": "cir",
    "highway": "hwy",
    "parkway": "pkwy",
    "apartment": "apt",
    "suite": "ste",
    "unit": "apt",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
}


def normalize_address(value: str | None) -> str | None:
    """Fold an address line and abbreviate street types ("Main Street" -> "main st")."""
    if value is None:
        return None
    tokens = [_ADDRESS_ABBREVIATIONS.get(token, token) for token in fold_text(value).split()]
    return " ".join(tokens) or None


PlaceholderField = Literal[
    "name", "identifier", "phone", "email", "postal_code", "address", "birth_date"
]


def _normalize_birth_date_text(value: str | None) -> str | None:
    """Canonical ISO text of a (partial) date, or None when it does not parse."""
    try:
        parsed = parse_partial_date(value)
    except ValueError:
        return None
    return None if parsed is None else parsed.isoformat()


# Each field's normalizer, so that policy values and record values are compared alike.
_PLACEHOLDER_NORMALIZERS: dict[PlaceholderField, Callable[[str], str | None]] = {
    "name": normalize_name,
    "identifier": normalize_identifier_value,
    "phone": normalize_phone,
    "email": normalize_email,
    "postal_code": normalize_postal_code,
    "address": normalize_address,
    "birth_date": _normalize_birth_date_text,
}


@functools.lru_cache(maxsize=65_536)
def _normalize_for_placeholder(field_name: PlaceholderField, value: str) -> str | None:
    """Normalize a value the way its field is normalized, so policy and data agree.

    Cached: scoring re-applies the placeholder policy to both records of every pair, so the
    same few values (the query's above all) are normalized over and over; the function is
    pure, so a cache cannot change a result.
    """
    return _PLACEHOLDER_NORMALIZERS[field_name](value)


def _normalized_set(field_name: PlaceholderField, values: Iterable[str]) -> frozenset[str]:
    """Normalize a set of placeholder values, dropping those that normalize to nothing."""
    return frozenset(
        normalized
        for value in values
        if (normalized := _normalize_for_placeholder(field_name, value)) is not None
    )


# Identifier or phone values of one digit repeated this often or more are placeholders.
_SHORTEST_REPEATED_DIGIT_PLACEHOLDER = 4

DEFAULT_PLACEHOLDER_NAMES = (
    "UNKNOWN",
    "UNK",
    "UNKN",
    "BABY",
    "BABY BOY",
    "BABY GIRL",
    "BABYBOY",
    "BABYGIRL",
    "INFANT",
    "NEWBORN",
    "JOHN DOE",
    "JANE DOE",
    "TEST",
    "TEST PATIENT",
    "PATIENT",
    "NONE",
    "NULL",
    "XXX",
)
DEFAULT_PLACEHOLDER_IDENTIFIERS = ("000-00-0000", "999-99-9999", "123-45-6789", "123456789")
DEFAULT_PLACEHOLDER_PHONES = ("0000000000", "5555555555", "1234567890", "9999999999")
DEFAULT_PLACEHOLDER_EMAILS = (
    "none@none.com",
    "noemail@noemail.com",
    "no@email.com",
    "unknown@unknown.com",
    "test@test.com",
)
DEFAULT_PLACEHOLDER_POSTAL_CODES = ("00000", "99999")
DEFAULT_PLACEHOLDER_ADDRESSES = ("UNKNOWN", "HOMELESS", "NO ADDRESS", "NONE")
DEFAULT_PLACEHOLDER_BIRTH_DATES = ("1900-01-01", "1800-01-01", "0001-01-01")


# Which PlaceholderPolicy attribute holds the placeholders of each field.
_POLICY_ATTRIBUTES: dict[PlaceholderField, str] = {
    "name": "names",
    "identifier": "identifiers",
    "phone": "phones",
    "email": "emails",
    "postal_code": "postal_codes",
    "address": "addresses",
    "birth_date": "birth_dates",
}


@dataclass(frozen=True)
class PlaceholderPolicy:
    """Which values a tenant's feeds use to mean "unknown", field by field.

    A placeholder shared by many unrelated patients (a default SSN, the clinic's own phone)
    would otherwise look like strong evidence that they are one person. Values given here
    are normalized on construction, so raw and normalized spellings both work.
    """

    names: frozenset[str] = field(default=frozenset(DEFAULT_PLACEHOLDER_NAMES))
    identifiers: frozenset[str] = field(default=frozenset(DEFAULT_PLACEHOLDER_IDENTIFIERS))
    phones: frozenset[str] = field(default=frozenset(DEFAULT_PLACEHOLDER_PHONES))
    emails: frozenset[str] = field(default=frozenset(DEFAULT_PLACEHOLDER_EMAILS))
    postal_codes: frozenset[str] = field(default=frozenset(DEFAULT_PLACEHOLDER_POSTAL_CODES))
    addresses: frozenset[str] = field(default=frozenset(DEFAULT_PLACEHOLDER_ADDRESSES))
    birth_dates: frozenset[str] = field(default=frozenset(DEFAULT_PLACEHOLDER_BIRTH_DATES))

    def __post_init__(self) -> None:
        """Store every value in its field's normalized form."""
        for field_name, attribute in _POLICY_ATTRIBUTES.items():
            object.__setattr__(
                self, attribute, _normalized_set(field_name, getattr(self, attribute))
            )

    def with_extras(
        self,
        *,
        names: Iterable[str] = (),
        identifiers: Iterable[str] = (),
        phones: Iterable[str] = (),
        emails: Iterable[str] = (),
        postal_codes: Iterable[str] = (),
        addresses: Iterable[str] = (),
        birth_dates: Iterable[str] = (),
    ) -> PlaceholderPolicy:
        """A copy of this policy with a tenant's own placeholders added (e.g. a clinic phone)."""
        return PlaceholderPolicy(
            names=self.names | frozenset(names),
            identifiers=self.identifiers | frozenset(identifiers),
            phones=self.phones | frozenset(phones),
            emails=self.emails | frozenset(emails),
            postal_codes=self.postal_codes | frozenset(postal_codes),
            addresses=self.addresses | frozenset(addresses),
            birth_dates=self.birth_dates | frozenset(birth_dates),
        )

    def is_placeholder(self, field_name: PlaceholderField, value: str) -> bool:
        """Whether a value of the given field means "unknown" rather than a real datum.

        Identifiers and phones made of one digit repeated at least four times ("0000",
        "111111111") are placeholders whatever the tenant configured; shorter values such as
        MRN "7" are real.
        """
        normalized = _normalize_for_placeholder(field_name, value)
        if normalized is None:
            return False
        if (
            field_name in {"identifier", "phone"}
            and normalized.isdigit()
            and len(normalized) >= _SHORTEST_REPEATED_DIGIT_PLACEHOLDER
            and len(set(normalized)) == 1
        ):
            return True
        return normalized in self.values_for(field_name)

    def values_for(self, field_name: PlaceholderField) -> frozenset[str]:
        """The normalized placeholder values configured for one field."""
        values_by_field: dict[PlaceholderField, frozenset[str]] = {
            "name": self.names,
            "identifier": self.identifiers,
            "phone": self.phones,
            "email": self.emails,
            "postal_code": self.postal_codes,
            "address": self.addresses,
            "birth_date": self.birth_dates,
        }
        return values_by_field[field_name]
