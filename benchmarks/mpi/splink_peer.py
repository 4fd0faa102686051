"""The Splink peer of `make bench-mpi`: the same records deduplicated by Splink (DuckDB).

Runs in the benchmark's own virtualenv (requirements/bench-lock.txt), never the app's:
`python splink_peer.py RECORDS.csv PAIRS.csv --memory-limit 4GB --temp-dir DIR
--max-temp-size 20GB`. Reads the
records the benchmark exported, trains (u by random sampling, m by EM on two blocking rules,
as Splink's tutorials do), predicts with blocking comparable to ours and writes the pairs
with match probability >= 0.5. Prints one JSON line of figures.
"""

import argparse
import json
import resource
import time

# Installed only in the benchmark's own virtualenv (requirements/bench-lock.txt).
import duckdb  # type: ignore[import-not-found]
import splink.comparison_library as cl  # type: ignore[import-not-found]
from splink import DuckDBAPI, Linker, SettingsCreator, block_on


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("records")
    parser.add_argument("pairs")
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--temp-dir", required=True)
    parser.add_argument("--max-temp-size", default="20GB")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    connection = duckdb.connect(
        config={
            "memory_limit": args.memory_limit,
            "temp_directory": args.temp_dir,
            "max_temp_directory_size": args.max_temp_size,
            "threads": args.threads,
        }
    )
    records = connection.read_csv(args.records, all_varchar=True).df()
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.NameComparison("first_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.ExactMatch("gender"),
            cl.ExactMatch("postcode"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("email"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("surname", "substr(dob, 1, 4)"),
            block_on("first_name", "dob"),
            block_on("surname", "first_name"),
        ],
    )
    linker = Linker(records, settings, db_api=DuckDBAPI(connection=connection))
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "surname", "dob")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("surname"))
    trained = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    frame = predictions.as_pandas_dataframe()
    frame[["unique_id_l", "unique_id_r", "match_probability"]].to_csv(args.pairs, index=False)
    finished = time.perf_counter()
    print(
        json.dumps(
            {
                "seconds": round(finished - started, 1),
                "train_seconds": round(trained - started, 1),
                "pairs_predicted": len(frame),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                "splink": __import__("splink").__version__,
                "duckdb": duckdb.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
