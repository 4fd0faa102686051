"""Plain-file outputs of the synthetic population: ndjson records and the truth file.

The management command that seeds a tenant bulk-loads ndjson (or `to_row` dicts) with COPY,
and matching benchmarks score predicted links against the truth file. Nothing here knows the
database schema, so the loader owns the mapping from rows to tables.

True duplicate pairs are represented as `frozenset({record_id_a, record_id_b})`: unordered,
hashable, and directly comparable with a matcher's predicted pairs built the same way.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from registration.synthetic.records import SyntheticPerson

StrPath = str | os.PathLike[str]
RecordPair = frozenset[str]

TRUTH_HEADER = ("record_id", "person_id")
RECORDS_FILE_NAME = "records.ndjson"
TRUTH_FILE_NAME = "truth.csv"


def to_row(record: SyntheticPerson) -> dict[str, object]:
    """Flatten a record into JSON-able values (ISO dates, lists, dicts) for bulk loading."""
    return {
        "record_id": record.record_id,
        "person_id": record.person_id,
        "family": record.family,
        "given": record.given,
        "middle": record.middle,
        "maiden_family": record.maiden_family,
        "gender": record.gender,
        "birth_date": None if record.birth_date is None else record.birth_date.isoformat(),
        "identifiers": [
            {
                "system": identifier.system,
                "value": identifier.value,
                "type_code": identifier.type_code,
            }
            for identifier in record.identifiers
        ],
        "phones": list(record.phones),
        "email": record.email,
        "line": record.line,
        "city": record.city,
        "state": record.state,
        "postal_code": record.postal_code,
        "country": record.country,
        "language": record.language,
        "marital_status": record.marital_status,
        "duplicate_of": record.duplicate_of,
        "corruptions": list(record.corruptions),
    }


# One shared encoder: json.dumps with non-default options builds a new encoder on every call.
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _ndjson_line(record: SyntheticPerson) -> str:
    """Serialise one record as a compact UTF-8 JSON line."""
    return _JSON_ENCODER.encode(to_row(record)) + "\n"


def write_ndjson(path: StrPath, records: Iterable[SyntheticPerson]) -> int:
    """Stream `records` to `path` as newline-delimited JSON; return how many were written."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as out:
        for record in records:
            out.write(_ndjson_line(record))
            count += 1
    return count


def write_truth(path: StrPath, records: Iterable[SyntheticPerson]) -> int:
    """Stream the `record_id,person_id` truth CSV of `records`; return the row count."""
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(TRUTH_HEADER)
        for record in records:
            writer.writerow((record.record_id, record.person_id))
            count += 1
    return count


@dataclass(frozen=True, slots=True)
class DatasetFiles:
    """Where `write_dataset` put the records and the truth, and how much it wrote."""

    records_path: Path
    truth_path: Path
    record_count: int
    duplicate_count: int


def write_dataset(directory: StrPath, records: Iterable[SyntheticPerson]) -> DatasetFiles:
    """Write records.ndjson and truth.csv into `directory` in a single pass over `records`.

    One pass matters because the records come from a generator: producing them twice would
    double the cost of a million-record seed.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    records_path = folder / RECORDS_FILE_NAME
    truth_path = folder / TRUTH_FILE_NAME
    count = duplicates = 0
    with (
        records_path.open("w", encoding="utf-8") as records_out,
        truth_path.open("w", encoding="utf-8", newline="") as truth_out,
    ):
        truth_writer = csv.writer(truth_out)
        truth_writer.writerow(TRUTH_HEADER)
        for record in records:
            records_out.write(_ndjson_line(record))
            truth_writer.writerow((record.record_id, record.person_id))
            count += 1
            duplicates += record.duplicate_of is not None
    return DatasetFiles(records_path, truth_path, count, duplicates)


def read_truth(path: StrPath) -> Iterator[tuple[str, str]]:
    """Yield `(record_id, person_id)` rows of a truth file, checking its header."""
    with Path(path).open(encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        header = next(reader, None)
        if header is None or tuple(header) != TRUTH_HEADER:
            raise ValueError(f"{path} is not a truth file: expected header {TRUTH_HEADER}")
        for line_number, row in enumerate(reader, start=2):
            if len(row) != len(TRUTH_HEADER):
                raise ValueError(f"{path}:{line_number}: expected 2 columns, got {len(row)}")
            yield row[0], row[1]


def true_pairs(rows: Iterable[tuple[str, str]]) -> set[RecordPair]:
    """Return every unordered pair of record ids that share a person id.

    A person with k records contributes k*(k-1)/2 pairs, the set a perfect matcher links.
    """
    records_by_person: dict[str, list[str]] = {}
    for record_id, person_id in rows:
        records_by_person.setdefault(person_id, []).append(record_id)
    return {
        frozenset(pair)
        for record_ids in records_by_person.values()
        if len(record_ids) > 1
        for pair in combinations(record_ids, 2)
    }


def true_pairs_from_truth(path: StrPath) -> set[RecordPair]:
    """Return the true duplicate pairs of a truth file (see `true_pairs`)."""
    return true_pairs(read_truth(path))


@dataclass(frozen=True, slots=True)
class PairScores:
    """Pairwise linkage quality of a matcher against the truth."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        """Share of predicted pairs that are true duplicates (1.0 when nothing was predicted)."""
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        """Share of true duplicate pairs that were predicted (1.0 when there are none)."""
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        precision, recall = self.precision, self.recall
        total = precision + recall
        return 2 * precision * recall / total if total else 0.0


def score_pairs(predicted: Iterable[RecordPair], truth: set[RecordPair]) -> PairScores:
    """Compare predicted duplicate pairs with the true ones; a repeated prediction counts once."""
    predicted_set = set(predicted)
    true_positives = len(predicted_set & truth)
    return PairScores(
        true_positives=true_positives,
        false_positives=len(predicted_set) - true_positives,
        false_negatives=len(truth) - true_positives,
    )
