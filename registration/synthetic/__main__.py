"""Command line: write a synthetic population (ndjson + truth CSV) and report its speed.

    python -m registration.synthetic --count 200000 --seed 7 --out /tmp/population

Exists so generation throughput can be measured on real hardware without a timed test, and so
benchmark datasets can be produced without booting Django.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import date

from registration.synthetic.generator import MAX_DUPLICATE_RATE, generate
from registration.synthetic.records import SyntheticPerson
from registration.synthetic.serialization import write_dataset

_SHORTEST_MEASURABLE = 1e-9  # seconds; avoids dividing by zero for an empty population


class _GenerationClock:
    """Accumulates the time spent inside the generator, excluding file writing."""

    def __init__(self) -> None:
        """Start with no time measured."""
        self.seconds = 0.0

    def timed(self, records: Iterator[SyntheticPerson]) -> Iterator[SyntheticPerson]:
        """Pass `records` through, adding the time each one took to produce."""
        clock = time.perf_counter
        while True:
            started = clock()
            record = next(records, None)
            self.seconds += clock() - started
            if record is None:
                return
            yield record


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Read the command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m registration.synthetic",
        description="Write a synthetic patient population with known duplicates.",
    )
    parser.add_argument("--count", type=int, default=10_000, help="records in total")
    parser.add_argument("--seed", type=int, default=0, help="seed for the people drawn")
    parser.add_argument("--out", required=True, help="directory for records.ndjson, truth.csv")
    parser.add_argument(
        "--duplicate-rate",
        type=float,
        default=0.1,
        help=f"share of records that are duplicates (0 to {MAX_DUPLICATE_RATE})",
    )
    parser.add_argument("--tenant-label", default="demo", help="tenant the MRNs belong to")
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        help="reference date for ages (ISO; default: today, UTC)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Generate, write and report; return the process exit status."""
    args = _parse_args(argv)
    started = time.perf_counter()  # includes drawing the Faker vocabularies
    try:
        records = generate(
            args.count,
            seed=args.seed,
            duplicate_rate=args.duplicate_rate,
            tenant_label=args.tenant_label,
            today=args.today,
        )
    except ValueError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    clock = _GenerationClock()
    files = write_dataset(args.out, clock.timed(records))
    elapsed = time.perf_counter() - started
    generation_rate = files.record_count / max(clock.seconds, _SHORTEST_MEASURABLE)
    overall_rate = files.record_count / max(elapsed, _SHORTEST_MEASURABLE)
    sys.stdout.write(
        f"wrote {files.record_count} records ({files.duplicate_count} duplicates)\n"
        f"  {files.records_path}\n  {files.truth_path}\n"
        f"generation: {generation_rate:,.0f} records/s; "
        f"with writing: {overall_rate:,.0f} records/s ({elapsed:.2f} s)\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
