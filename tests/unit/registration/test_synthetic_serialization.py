"""Bulk-load rows, ndjson, the truth file and pairwise precision/recall."""

import csv
import json
from dataclasses import replace
from datetime import date

import pytest

from registration.synthetic import (
    SSN_SYSTEM,
    Identifier,
    SyntheticPerson,
    generate,
    read_truth,
    score_pairs,
    to_row,
    true_pairs,
    true_pairs_from_truth,
    write_dataset,
    write_ndjson,
    write_truth,
)

TODAY = date(2026, 1, 15)

RECORD = SyntheticPerson(
    record_id="r1",
    person_id="p1",
    family="Nguyễn",
    given="Anh",
    middle="Thị",
    maiden_family=None,
    gender="female",
    birth_date=date(1990, 3, 4),
    identifiers=(Identifier(SSN_SYSTEM, "123-45-6789", "SS"),),
    phones=("415-555-0101",),
    email=None,
    line="1 Main St",
    city="Springfield",
    state="CA",
    postal_code="90001",
    country="US",
    language="vi",
    marital_status="S",
    duplicate_of="r0",
    corruptions=("typo_given",),
)

# Hand-checked example: p1 has three records (3 pairs), p2 two (1 pair), p3 one (0 pairs).
TRUTH_ROWS = [("a", "p1"), ("b", "p1"), ("d", "p3"), ("c", "p1"), ("e", "p2"), ("f", "p2")]
EXPECTED_PAIRS = {
    frozenset({"a", "b"}),
    frozenset({"a", "c"}),
    frozenset({"b", "c"}),
    frozenset({"e", "f"}),
}


def test_to_row_is_plain_json_with_iso_dates():
    row = to_row(RECORD)
    assert json.loads(json.dumps(row)) == row
    assert row["birth_date"] == "1990-03-04"
    assert row["identifiers"] == [{"system": SSN_SYSTEM, "value": "123-45-6789", "type_code": "SS"}]
    assert row["phones"] == ["415-555-0101"]
    assert row["corruptions"] == ["typo_given"]
    assert to_row(replace(RECORD, birth_date=None))["birth_date"] is None


def test_record_helpers():
    assert RECORD.is_duplicate
    assert not replace(RECORD, duplicate_of=None).is_duplicate
    assert RECORD.identifier_value(SSN_SYSTEM) == "123-45-6789"
    assert RECORD.identifier_value("urn:other") is None


def test_ndjson_round_trip_keeps_unicode(tmp_path):
    path = tmp_path / "records.ndjson"
    records = list(generate(300, seed=2, today=TODAY))
    assert write_ndjson(path, records) == 300
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [to_row(record) for record in records]
    write_ndjson(path, [RECORD])
    assert "Nguyễn" in path.read_text(encoding="utf-8")


def test_truth_round_trip_and_true_pairs(tmp_path):
    records = [
        replace(RECORD, record_id=record_id, person_id=person_id)
        for record_id, person_id in TRUTH_ROWS
    ]
    path = tmp_path / "truth.csv"
    assert write_truth(path, records) == 6
    assert path.read_text(encoding="utf-8").splitlines()[:2] == ["record_id,person_id", "a,p1"]
    assert list(read_truth(path)) == TRUTH_ROWS
    assert true_pairs_from_truth(path) == EXPECTED_PAIRS
    assert true_pairs(TRUTH_ROWS) == EXPECTED_PAIRS


def test_true_pairs_of_a_generated_population_match_its_duplicates(tmp_path):
    records = list(generate(2000, seed=6, today=TODAY))
    files = write_dataset(tmp_path / "out", records)
    assert (files.record_count, files.records_path.name, files.truth_path.name) == (
        2000,
        "records.ndjson",
        "truth.csv",
    )
    assert files.duplicate_count == sum(record.is_duplicate for record in records)
    pairs = true_pairs_from_truth(files.truth_path)
    for record in records:
        if record.is_duplicate:
            assert frozenset({record.record_id, record.duplicate_of}) in pairs
    group_sizes: dict[str, int] = {}
    for record in records:
        group_sizes[record.person_id] = group_sizes.get(record.person_id, 0) + 1
    assert len(pairs) == sum(size * (size - 1) // 2 for size in group_sizes.values())
    assert len(files.records_path.read_text(encoding="utf-8").splitlines()) == 2000


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "not a truth file"),
        ("id,person\nr1,p1\n", "not a truth file"),
        ("record_id,person_id\nr1,p1,extra\n", "expected 2 columns"),
    ],
)
def test_malformed_truth_files_are_rejected(tmp_path, content, message):
    path = tmp_path / "truth.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        list(read_truth(path))


def test_truth_file_written_by_csv_with_quotes_is_read(tmp_path):
    path = tmp_path / "truth.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, quoting=csv.QUOTE_ALL)
        writer.writerows([("record_id", "person_id"), ("x", "p"), ("y", "p")])
    assert true_pairs_from_truth(path) == {frozenset({"x", "y"})}


def test_score_pairs_counts_hits_misses_and_false_links():
    predicted = [frozenset({"a", "b"}), frozenset({"b", "a"}), frozenset({"a", "d"})]
    scores = score_pairs(predicted, EXPECTED_PAIRS)
    assert (scores.true_positives, scores.false_positives, scores.false_negatives) == (1, 1, 3)
    assert scores.precision == pytest.approx(0.5)
    assert scores.recall == pytest.approx(0.25)
    assert scores.f1 == pytest.approx(2 * 0.5 * 0.25 / 0.75)


def test_score_edge_cases():
    nothing = score_pairs([], set())
    assert (nothing.precision, nothing.recall, nothing.f1) == (1.0, 1.0, 1.0)
    all_wrong = score_pairs([frozenset({"x", "y"})], EXPECTED_PAIRS)
    assert (all_wrong.precision, all_wrong.recall, all_wrong.f1) == (0.0, 0.0, 0.0)
