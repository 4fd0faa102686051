"""Pure arithmetic of `make bench`: ratios to the ceilings, target evaluation, cost growth.

Everything here works on the plain JSON the harness writes (no Django, no I/O), so the report
can be re-rendered from a saved JSON file and the rules are unit-tested.
"""

from dataclasses import asdict, dataclass
from typing import Any

# The targets (2 cores). Latency targets are stated at 1M patients.
TARGET_SIZE = 1_000_000
MATCH_P95_MS = 25.0
SEARCH_P95_MS = 20.0
REGISTRATION_SHARE_OF_BARE = 0.5
RELAY_SHARE_OF_RAW = 0.5
LAG_P99_MS = 1000.0
BATCH_SECONDS = 600.0
BATCH_RSS_MB = 1024.0
SERVICE_ENDPOINTS = ("registration", "search", "match")  # what the profile may be pointed at
LATENCY_CONNECTIONS = "1"  # p95 targets are read at one client (no queueing in the figure)


@dataclass(frozen=True, slots=True)
class Ratio:
    """One figure next to its ceiling from the same run."""

    figure: str
    size: int
    value: float
    ceiling: float
    ratio: float | None
    unit: str
    higher_is_better: bool


@dataclass(frozen=True, slots=True)
class TargetResult:
    """One row of the targets table."""

    target: str
    measured: str
    size: int | None
    status: str  # met | missed | not measured
    detail: str


def ratio(value: float, ceiling: float) -> float | None:
    """value / ceiling, None when the ceiling is zero (nothing to compare with)."""
    return round(value / ceiling, 3) if ceiling else None


def sizes_of(results: dict[str, Any]) -> list[int]:
    """The population sizes measured, smallest first."""
    return sorted(int(size) for size in results.get("sizes", {}))


def ratios(results: dict[str, Any]) -> list[Ratio]:
    """Every service figure against its ceiling, per size (and the outbox once)."""
    rows: list[Ratio] = []
    for size in sizes_of(results):
        data = results["sizes"][str(size)]
        for connections, levels in sorted(
            data.get("registration", {}).items(), key=lambda item: int(item[0])
        ):
            full = levels["full"]["rps"]
            rows.extend(
                Ratio(
                    figure=f"registration c={connections} vs {name}",
                    size=size,
                    value=full,
                    ceiling=levels[name]["rps"],
                    ratio=ratio(full, levels[name]["rps"]),
                    unit="req/s",
                    higher_is_better=True,
                )
                for name in ("bare", "raw")
                if name in levels
            )
        ceiling = data.get("ceiling_trigram")
        for endpoint in ("search", "match"):
            one = data.get(endpoint, {}).get(LATENCY_CONNECTIONS)
            if not one or not ceiling:
                continue
            rows.extend(
                (
                    Ratio(
                        figure=f"{endpoint} c=1 req/s vs trigram query",
                        size=size,
                        value=one["rps"],
                        ceiling=ceiling["rps"],
                        ratio=ratio(one["rps"], ceiling["rps"]),
                        unit="req/s",
                        higher_is_better=True,
                    ),
                    Ratio(
                        figure=f"{endpoint} c=1 p95 vs trigram query",
                        size=size,
                        value=one["p95_ms"],
                        ceiling=ceiling["p95_ms"],
                        ratio=ratio(one["p95_ms"], ceiling["p95_ms"]),
                        unit="ms",
                        higher_is_better=False,
                    ),
                )
            )
        batch = data.get("batch_dedupe", {})
        splink = batch.get("splink", {})
        if batch.get("measured") and splink.get("finished"):
            ours, theirs = batch_f1(batch), splink["quality"]["f1"]
            rows.append(
                Ratio(
                    figure="batch dedupe F1 vs Splink",
                    size=size,
                    value=ours,
                    ceiling=theirs,
                    ratio=ratio(ours, theirs),
                    unit="F1",
                    higher_is_better=True,
                )
            )
    outbox = results.get("outbox", {})
    if outbox.get("measured"):
        relay, raw = (
            outbox["relay"]["events_per_second"],
            outbox["raw_ceiling"]["events_per_second"],
        )
        rows.append(
            Ratio(
                figure="outbox relay vs SKIP LOCKED → XADD loop",
                size=0,
                value=relay,
                ceiling=raw,
                ratio=ratio(relay, raw),
                unit="events/s",
                higher_is_better=True,
            )
        )
    return rows


def worst_ratio(rows: list[Ratio]) -> Ratio | None:
    """The service endpoint furthest below its ceiling's throughput (largest size) to profile."""
    candidates = [
        r
        for r in rows
        if r.higher_is_better and r.ratio is not None and endpoint_of(r.figure) in SERVICE_ENDPOINTS
    ]
    if not candidates:
        return None
    largest = max(r.size for r in candidates)
    return min((r for r in candidates if r.size == largest), key=lambda r: r.ratio or 0.0)


def batch_f1(batch: dict[str, Any]) -> float:
    """The batch job's F1: pairs it graded PROBABLE or better against the generator's truth."""
    return float(batch["quality_probable_or_better"]["f1"])


def largest_batch(results: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """The batch dedupe run at the largest size that has one."""
    for size in reversed(sizes_of(results)):
        batch = results["sizes"][str(size)].get("batch_dedupe", {})
        if batch.get("measured"):
            return size, batch
    return None


def _batch_targets(results: dict[str, Any]) -> list[TargetResult]:
    labels = (
        "batch dedupe of 1M ≤ 10 min",
        "batch dedupe worker peak RSS ≤ 1 GB",
        "batch dedupe F1 ≥ Splink's",
    )
    found = largest_batch(results)
    if found is None:
        reasons = [
            b.get("reason", "no run")
            for b in (results["sizes"][str(s)].get("batch_dedupe", {}) for s in sizes_of(results))
        ]
        return [_not_measured(label, reasons[-1] if reasons else "no run") for label in labels]
    size, batch = found
    rows = [
        _at_most(labels[0], float(batch["seconds"]), BATCH_SECONDS, size, "s"),
        _at_most(labels[1], float(batch["peak_rss_mb"]), BATCH_RSS_MB, size, "MB"),
    ]
    splink = batch.get("splink", {})
    if not splink.get("finished"):
        rows.append(_not_measured(labels[2], f"Splink {splink.get('reason', 'not run')}"))
        return rows
    ours, theirs = batch_f1(batch), float(splink["quality"]["f1"])
    shown = f"{ours:.3f} vs Splink {theirs:.3f}"
    caveat = "" if size >= TARGET_SIZE else f"; measured at {size:,} patients, target is at 1M"
    if ours >= theirs:
        rows.append(
            TargetResult(labels[2], shown, size, "met", f"{ours - theirs:.3f} above{caveat}")
        )
    else:
        rows.append(
            TargetResult(labels[2], shown, size, "missed", f"by {theirs - ours:.3f}{caveat}")
        )
    return rows


def endpoint_of(figure: str) -> str:
    """Which endpoint a ratio's figure is about: registration, search or match."""
    return figure.split(" ", 1)[0]


def _at_most(name: str, measured: float, limit: float, size: int, unit: str) -> TargetResult:
    shown = f"{measured:g} {unit}"
    caveat = "" if size >= TARGET_SIZE else f"; measured at {size:,} patients, target is at 1M"
    if measured <= limit:
        return TargetResult(
            name, shown, size, "met", f"{limit - measured:.1f} {unit} to spare{caveat}"
        )
    over = measured - limit
    return TargetResult(
        name, shown, size, "missed", f"by {over:.1f} {unit} ({over / limit:.0%} over){caveat}"
    )


def _at_least(name: str, measured: float, floor: float, size: int | None) -> TargetResult:
    shown = f"{measured:.0%}"
    if measured >= floor:
        return TargetResult(
            name, shown, size, "met", f"{(measured - floor) * 100:.0f} points above"
        )
    return TargetResult(
        name, shown, size, "missed", f"by {(floor - measured) * 100:.0f} percentage points"
    )


def _not_measured(name: str, reason: str) -> TargetResult:
    return TargetResult(name, "—", None, "not measured", reason)


def evaluate_targets(results: dict[str, Any]) -> list[TargetResult]:
    """The issue's targets table: met, or missed by how much, or why it was not measured."""
    rows: list[TargetResult] = []
    sizes = sizes_of(results)
    largest = results["sizes"][str(sizes[-1])] if sizes else {}
    for endpoint, label, limit in (
        ("match", "online match p95 ≤ 25 ms at 1M", MATCH_P95_MS),
        ("search", "search p95 ≤ 20 ms at 1M", SEARCH_P95_MS),
    ):
        one = largest.get(endpoint, {}).get(LATENCY_CONNECTIONS)
        if one:
            rows.append(_at_most(label, one["p95_ms"], limit, sizes[-1], "ms"))
        else:
            rows.append(_not_measured(label, f"no {endpoint} run"))
    registration = largest.get("registration", {})
    shares = {
        c: ratio(levels["full"]["rps"], levels["bare"]["rps"])
        for c, levels in registration.items()
        if "bare" in levels
    }
    known = {c: s for c, s in shares.items() if s is not None}
    if known:
        worst_c = min(known, key=lambda c: known[c])
        result = _at_least(
            "registration ≥ 50% of the bare endpoint's req/s",
            known[worst_c],
            REGISTRATION_SHARE_OF_BARE,
            sizes[-1],
        )
        rows.append(
            TargetResult(
                result.target,
                f"{result.measured} (worst, at c={worst_c})",
                result.size,
                result.status,
                result.detail,
            )
        )
    else:
        rows.append(_not_measured("registration ≥ 50% of the bare endpoint's req/s", "no run"))
    rows.extend(_batch_targets(results))
    outbox = results.get("outbox", {})
    if outbox.get("measured"):
        share = ratio(
            outbox["relay"]["events_per_second"], outbox["raw_ceiling"]["events_per_second"]
        )
        rows.append(
            _at_least("relay ≥ 50% of the bare loop", share or 0.0, RELAY_SHARE_OF_RAW, None)
        )
        lag = outbox["lag"]["lag_ms"]["p99"]
        row = _at_most("relay lag p99 < 1 s at 1,000 events/s", float(lag), LAG_P99_MS, 0, "ms")
        rows.append(
            TargetResult(row.target, row.measured, None, row.status, row.detail.split(";")[0])
        )
    else:
        reason = outbox.get("reason", "no run")
        rows.append(_not_measured("relay ≥ 50% of the bare loop", reason))
        rows.append(_not_measured("relay lag p99 < 1 s at 1,000 events/s", reason))
    return rows


def growth(results: dict[str, Any]) -> list[dict[str, Any]]:
    """How each figure changes from the smallest to the largest size measured."""
    sizes = sizes_of(results)
    if len(sizes) < 2:
        return []
    small, large = results["sizes"][str(sizes[0])], results["sizes"][str(sizes[-1])]
    rows: list[dict[str, Any]] = []

    def add(figure: str, before: float | None, after: float | None, unit: str) -> None:
        if before is None or after is None:
            return
        rows.append(
            {
                "figure": figure,
                "unit": unit,
                "small": before,
                "large": after,
                "factor": ratio(after, before),
            }
        )

    for endpoint in ("search", "match"):
        a, b = small.get(endpoint, {}), large.get(endpoint, {})
        for c in sorted(set(a) & set(b), key=int):
            add(f"{endpoint} c={c} p95", a[c]["p95_ms"], b[c]["p95_ms"], "ms")
            add(f"{endpoint} c={c} req/s", a[c]["rps"], b[c]["rps"], "req/s")
    ca, cb = small.get("ceiling_trigram"), large.get("ceiling_trigram")
    if ca and cb:
        add("trigram query p95", ca["p95_ms"], cb["p95_ms"], "ms")
    ra, rb = small.get("registration", {}), large.get("registration", {})
    for c in sorted(set(ra) & set(rb), key=int):
        add(f"registration c={c} req/s", ra[c]["full"]["rps"], rb[c]["full"]["rps"], "req/s")
        add(f"registration c={c} p95", ra[c]["full"]["p95_ms"], rb[c]["full"]["p95_ms"], "ms")
    fa, fb = small.get("fhir", {}).get("runs", {}), large.get("fhir", {}).get("runs", {})
    for name in [n for n in fa if n in fb]:
        add(f"FHIR {name} p95", fa[name]["p95_ms"], fb[name]["p95_ms"], "ms")
    ba, bb = small.get("batch_dedupe", {}), large.get("batch_dedupe", {})
    if ba.get("measured") and bb.get("measured"):
        add("batch dedupe wall time", ba["seconds"], bb["seconds"], "s")
        add("batch dedupe pairs scored", ba["pairs_scored"], bb["pairs_scored"], "pairs")
        add("batch dedupe pairs/s", ba["pairs_per_second"], bb["pairs_per_second"], "pairs/s")
        add("batch dedupe peak worker RSS", ba["peak_rss_mb"], bb["peak_rss_mb"], "MB")
        add("batch dedupe F1", batch_f1(ba), batch_f1(bb), "F1")
    return rows


def as_json(rows: list[Ratio] | list[TargetResult]) -> list[dict[str, Any]]:
    """Dataclass rows as plain dicts for the JSON report."""
    return [asdict(row) for row in rows]
