"""Synthetic patient populations with known true duplicates.

Used to seed demo tenants, to feed tests, and to benchmark the Master Patient Index's matching
quality (precision/recall against a truth file) at 100 to 1,000,000 records. Plain Python: no
Django, no database schema; a management command loads the output with COPY.

Typical use::

    from registration.synthetic import generate, write_dataset, true_pairs_from_truth

    files = write_dataset("out/", generate(100_000, seed=7, today=date(2025, 1, 1)))
    truth = true_pairs_from_truth(files.truth_path)
"""

from registration.synthetic.checksums import luhn_check_digit, luhn_is_valid
from registration.synthetic.corruptions import CORRUPTION_CODES
from registration.synthetic.generator import MAX_DUPLICATE_RATE, default_home_state, generate
from registration.synthetic.identifiers import (
    DRIVERS_LICENSE_TYPE,
    MRN_TYPE,
    SSN_SYSTEM,
    SSN_TYPE,
    Identifier,
    drivers_license_system,
    facility_systems,
    ssn_is_valid,
)
from registration.synthetic.nicknames import NICKNAMES
from registration.synthetic.records import GENDERS, MARITAL_STATUSES, SyntheticPerson
from registration.synthetic.serialization import (
    RECORDS_FILE_NAME,
    TRUTH_FILE_NAME,
    DatasetFiles,
    PairScores,
    RecordPair,
    read_truth,
    score_pairs,
    to_row,
    true_pairs,
    true_pairs_from_truth,
    write_dataset,
    write_ndjson,
    write_truth,
)

__all__ = [
    "CORRUPTION_CODES",
    "DRIVERS_LICENSE_TYPE",
    "GENDERS",
    "MARITAL_STATUSES",
    "MAX_DUPLICATE_RATE",
    "MRN_TYPE",
    "NICKNAMES",
    "RECORDS_FILE_NAME",
    "SSN_SYSTEM",
    "SSN_TYPE",
    "TRUTH_FILE_NAME",
    "DatasetFiles",
    "Identifier",
    "PairScores",
    "RecordPair",
    "SyntheticPerson",
    "default_home_state",
    "drivers_license_system",
    "facility_systems",
    "generate",
    "luhn_check_digit",
    "luhn_is_valid",
    "read_truth",
    "score_pairs",
    "ssn_is_valid",
    "to_row",
    "true_pairs",
    "true_pairs_from_truth",
    "write_dataset",
    "write_ndjson",
    "write_truth",
]
