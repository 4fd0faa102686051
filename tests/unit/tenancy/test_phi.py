"""PHI redaction: by key, by pattern, and by the values the request itself carried."""

import pytest

from tenancy.phi import (
    MAX_KNOWN_LENGTH,
    MAX_KNOWN_VALUES,
    REDACTED,
    is_phi_key,
    phi_values_from,
    phi_values_known,
    phi_values_register,
    phi_values_reset,
    redact_text,
    redact_value,
)


@pytest.fixture(autouse=True)
def _fresh_values():
    phi_values_reset()
    yield
    phi_values_reset()


@pytest.mark.parametrize(
    "text",
    [
        "born 1987-03-14",
        "born 14/03/1987",
        "born 14.03.1987",
        "born 3-14-1987",
        "born 1987/03/14",
        "call +1 (617) 555-0142",
        "call 617-555-0142",
        "call 6175550142",
        "ssn 123-45-6789",
        "write to ada.okafor@example.org",
    ],
)
def test_patterns_are_redacted(text):
    redacted = redact_text(text)
    assert REDACTED in redacted
    assert not any(ch.isdigit() for ch in redacted.split(" ", 1)[1].replace(REDACTED, ""))
    assert "@" not in redacted


@pytest.mark.parametrize(
    "text",
    [
        "published at 2026-11-29T18:00:00+00:00",
        "2026-11-29 18:00:00,123 INFO started",
        "from 127.0.0.1 port 8000",
        "patient 550e8400-e29b-41d4-a716-446655440000 version 12 attempts 3",
        "event sequence 1234567",
    ],
)
def test_ids_timestamps_and_addresses_are_kept(text):
    assert redact_text(text) == text


def test_values_known_to_the_request_are_redacted_anywhere():
    phi_values_register(["Okafor", "MRN100001", "Anna Maria", None, True, "x"])
    assert phi_values_known() == {"Okafor", "MRN100001", "Anna Maria"}
    text = 'Key (system, value)=(urn:mrn, MRN100001) exists for OKAFOR, "Anna Maria" (Okafors kept)'
    assert redact_text(text) == (
        f"Key (system, value)=(urn:mrn, {REDACTED}) exists for {REDACTED}, "
        f'"{REDACTED}" (Okafors kept)'
    )
    phi_values_reset()
    assert redact_text("Okafor") == "Okafor"


def test_phi_keys_in_any_spelling():
    for key in ("birth_date", "birthDate", "Date-Of-Birth", "family", "given", "telecom", "ssn"):
        assert is_phi_key(key), key
    for key in ("patient_id", "tenant_id", "gender", "status", "event_type"):
        assert not is_phi_key(key), key


def test_values_are_redacted_by_key_and_inside():
    value = {
        "patient_id": "550e8400-e29b-41d4-a716-446655440000",
        "birthDate": "1987-03-14",
        "identifiers": [{"system": "urn:mrn", "value": "MRN1"}],
        "note": "call 617-555-0142",
        "attempts": 3,
        "deceased": True,
        "names": None,
        "tags": ("a", "born 1987-03-14"),
    }
    assert redact_value("extra", value) == {
        "patient_id": "550e8400-e29b-41d4-a716-446655440000",
        "birthDate": REDACTED,
        "identifiers": REDACTED,
        "note": f"call {REDACTED}",
        "attempts": 3,
        "deceased": True,
        "names": None,
        "tags": ["a", f"born {REDACTED}"],
    }
    assert redact_value("mrn", 12345) == REDACTED
    assert redact_value("when", object()).startswith("<object")


def test_the_phi_leaves_of_a_registration_body_or_a_query():
    body = {
        "names": [{"use": "official", "family": "Okafor", "given": ["Adaeze", "Grace"]}],
        "gender": "female",
        "birth_date": "1987-03-14",
        "identifiers": [{"system": "urn:mrn", "value": "MRN1", "type_code": "MR"}],
        "telecoms": [{"system": "phone", "value": "+1 617 555 0142", "use": "mobile"}],
        "duplicate_override": {"reason": "checked"},
    }
    assert phi_values_from(body) == [
        "Okafor",
        "Adaeze",
        "Grace",
        "1987-03-14",
        "MRN1",
        "+1 617 555 0142",
    ]
    assert phi_values_from({"identifier": ["urn:mrn|MRN1"], "page_size": ["10"]}) == [
        "urn:mrn|MRN1",
        "MRN1",
    ]


def test_what_one_request_registers_is_bounded():
    phi_values_register(f"value-{n:04d}" for n in range(MAX_KNOWN_VALUES + 50))
    phi_values_register(["x" * (MAX_KNOWN_LENGTH + 1)])
    assert len(phi_values_known()) == MAX_KNOWN_VALUES
    phi_values_register(["one-more"])
    assert "one-more" not in phi_values_known()


def test_deeply_nested_documents_are_walked_without_recursion():
    deep: object = "1987-03-14"
    for _ in range(5000):
        deep = {"birth_date": [deep]}
    assert phi_values_from(deep) == ["1987-03-14"]
