"""The report of `make bench`: docs/benchmarks/<date>-service.md and .json from one results dict."""

import json
from pathlib import Path
from typing import Any

from benchmarks.service.figures import as_json, evaluate_targets, growth, ratios, sizes_of


def _fig(run: dict[str, Any] | None) -> str:
    if not run:
        return "—"
    text = (
        f"{run['rps']:,} req/s; p50 {run['p50_ms']} / p95 {run['p95_ms']} / p99 {run['p99_ms']} ms"
    )
    bad = run.get("non2xx", 0) + run.get("socket_errors", 0)
    if bad:
        text += f" (**{bad} of {run['requests']} failed**)"
    return text


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _not_measured(section: dict[str, Any]) -> str:
    return f"not measured in this run: {section.get('reason', 'no reason recorded')}"


def _quality_cells(quality: dict[str, Any]) -> str:
    return f"{quality['precision']:.3f} | {quality['recall']:.3f} | {quality['f1']:.3f}"


def _batch_lines(batch: dict[str, Any]) -> list[str]:
    """The batch job next to Splink on the same records, scored against the generator's truth."""
    if not batch.get("measured"):
        return [_not_measured(batch)]
    lines = [
        f"{batch['patients']:,} records, {batch['true_pairs']:,} true pairs (the generator's "
        "truth); the job ran in its own worker process (`make bench-mpi`'s worker) on a copy "
        "no load run had touched.",
        "",
        "| engine | precision | recall | F1 | wall (s) | pairs scored | pairs/s | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|",
        f"| ours, PROBABLE or better | {_quality_cells(batch['quality_probable_or_better'])} | "
        f"{batch['seconds']} | {batch['pairs_scored']:,} | {batch['pairs_per_second']:,} | "
        f"{batch['peak_rss_mb']} |",
        f"| ours, POSSIBLE or better | {_quality_cells(batch['quality_possible_or_better'])} "
        "| | | | |",
    ]
    splink = batch.get("splink", {})
    if splink.get("finished"):
        lines.append(
            f"| Splink {splink.get('splink', '')} (DuckDB {splink.get('duckdb', '')}, p ≥ 0.5) | "
            f"{_quality_cells(splink['quality'])} | {splink.get('seconds', '—')} | | | "
            f"{splink.get('peak_rss_mb', '—')} |"
        )
    else:
        lines.append(f"| Splink | {splink.get('reason', 'not run')} | | | | | | |")
    return lines


def render_markdown(results: dict[str, Any]) -> str:  # noqa: PLR0912, PLR0915 - one document, top to bottom
    """The whole report as Markdown."""
    machine, versions = results["machine"], results["versions"]
    title = "Service benchmark" + (" — SMOKE RUN (not real figures)" if results["smoke"] else "")
    lines = [
        f"# {title} — {results['date']}",
        "",
        f"`make bench` at commit `{results['commit']}`. Machine: {machine['cores']} cores, "
        f"{machine['memory_gb']} GB memory, {machine['platform']}; load average at start "
        f"{machine['load_average_at_start']}. Versions: Python {versions['python']}, Django "
        f"{versions['django']}, PostgreSQL {versions['postgres']}, Redis {versions['redis']}, "
        f"gunicorn {versions['gunicorn']}, {versions['wrk']}.",
        "",
        f"Settings: sizes {', '.join(f'{s:,}' for s in sizes_of(results))} patients; "
        f"{results['settings']['seconds']} s per load run; gunicorn "
        f"{results['settings']['workers']} sync workers with production settings (DEBUG off, "
        "ephemeral secrets); load from a separate wrk process on loopback. Every figure "
        f"stands next to a ceiling measured in this run. Wall time {results['wall_seconds']} s.",
        "",
    ]
    if results["smoke"]:
        lines += [
            "**This is a smoke run of the harness (tiny sizes, short runs, possibly a shared "
            "machine): the numbers prove the harness works, not how fast the service is.**",
            "",
        ]
    lines += ["## Targets", "", "| target | measured | status | detail |", "|---|---|---|---|"]
    for target in evaluate_targets(results):
        at = f" at {target.size:,}" if target.size else ""
        lines.append(
            f"| {target.target} | {target.measured}{at} | **{target.status}** | {target.detail} |"
        )
    lines.append("")
    for size in sizes_of(results):
        data = results["sizes"][str(size)]
        lines += [f"## {size:,} patients", "", "### Registration: POST /api/v1/patients", ""]
        lines += [
            "| clients | full path | bare DRF+ORM insert | raw psycopg insert | full / bare | "
            "full / raw |",
            "|---|---|---|---|---|---|",
        ]
        for c, levels in sorted(data.get("registration", {}).items(), key=lambda i: int(i[0])):
            full, bare, raw = levels.get("full"), levels.get("bare"), levels.get("raw")
            lines.append(
                f"| {c} | {_fig(full)} | {_fig(bare)} | {_fig(raw)} | "
                f"{_share(full['rps'] / bare['rps'] if full and bare and bare['rps'] else None)} | "
                f"{_share(full['rps'] / raw['rps'] if full and raw and raw['rps'] else None)} |"
            )
        ceiling = data.get("ceiling_trigram")
        lines += [
            "",
            "### Search and match",
            "",
            "| endpoint | clients | figures |",
            "|---|---|---|",
        ]
        for endpoint, label in (
            ("search", "GET /api/v1/patients?…"),
            ("match", "POST /api/v1/match"),
        ):
            for c, run in sorted(data.get(endpoint, {}).items(), key=lambda i: int(i[0])):
                lines.append(f"| {label} | {c} | {_fig(run)} |")
        if ceiling:
            lines.append(
                f"| ceiling: raw pg_trgm candidate query (owner, no HTTP/ORM) | 1 | "
                f"{ceiling['rps']:,} q/s; p50 {ceiling['p50_ms']} / p95 {ceiling['p95_ms']} / "
                f"p99 {ceiling['p99_ms']} ms over {ceiling['queries']} queries |"
            )
        fhir = data.get("fhir", {})
        lines += ["", "### FHIR", ""]
        if fhir.get("measured"):
            lines += ["| operation | clients | figures |", "|---|---|---|"]
            for name, run in fhir["runs"].items():
                lines.append(f"| {name} | {run['connections']} | {_fig(run)} |")
        else:
            lines.append(_not_measured(fhir))
        lines += ["", "### Batch dedupe (whole tenant)", ""]
        lines += _batch_lines(data.get("batch_dedupe", {}))
        lines.append("")
    lines += ["## Ratios to the ceilings", "", "| figure | size | value | ceiling | ratio |"]
    lines.append("|---|---|---|---|---|")
    for entry in ratios(results):
        where = f"{entry.size:,}" if entry.size else "—"
        shown = "—" if entry.ratio is None else f"{entry.ratio:.2f}"
        lines.append(
            f"| {entry.figure} | {where} | {entry.value:,} {entry.unit} | "
            f"{entry.ceiling:,} {entry.unit} | {shown} |"
        )
    lines += ["", "## Cost growth", ""]
    rows = growth(results)
    if rows:
        sizes = sizes_of(results)
        lines += [
            f"| figure | at {sizes[0]:,} | at {sizes[-1]:,} | factor |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['figure']} | {r['small']:,} {r['unit']} | {r['large']:,} {r['unit']} | "
            f"{r['factor']} |"
            for r in rows
        ]
    else:
        lines.append("not measured in this run: only one size.")
    outbox = results.get("outbox", {})
    lines += [
        "",
        "## Outbox (benchmarks/outbox/bench.py, same functions as `make bench-outbox`)",
        "",
    ]
    if outbox.get("measured"):
        lag = outbox["lag"]
        lines += [
            f"- raw ceiling (bare SKIP LOCKED → pipelined XADD): "
            f"{outbox['raw_ceiling']['events_per_second']:,} events/s",
            f"- relay end-to-end into Redis Streams: {outbox['relay']['events_per_second']:,} "
            f"events/s ({_share(outbox['relay_vs_ceiling'])} of the ceiling)",
            f"- lag at {lag['offered_target_per_second']:,} events/s offered (achieved "
            f"{lag['offered_achieved_per_second']:,}): p50 {lag['lag_ms']['p50']} / p99 "
            f"{lag['lag_ms']['p99']} ms; delivered {lag['delivered']:,} of {lag['produced']:,}",
            f"- backlog {outbox['backlog']:,}, {outbox['rounds']} rounds",
        ]
    else:
        lines.append(_not_measured(outbox))
    profile = results.get("profile")
    lines += ["", "## Profile of the worst ratio", ""]
    if profile:
        lines.append(
            f"{profile['figure']} at {profile['size']:,} patients (ratio {profile['ratio']}): "
            f"{profile['summary']} Full profile: `{profile['path']}` (not committed)."
        )
    elif results.get("profile_error"):
        lines.append(f"profiling failed in this run: {results['profile_error']}")
    else:
        lines.append("not profiled in this run (set BENCH_PROFILE=1).")
    lines.append("")
    return "\n".join(lines)


def write_report(results: dict[str, Any], directory: Path) -> Path:
    """Write <date>-service(.smoke).md and .json; return the Markdown path."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{results['date']}-service" + ("-smoke" if results["smoke"] else "")
    document = {
        **results,
        "ratios": as_json(ratios(results)),
        "targets": as_json(evaluate_targets(results)),
        "growth": growth(results),
    }
    (directory / f"{stem}.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    path = directory / f"{stem}.md"
    path.write_text(render_markdown(results), encoding="utf-8")
    return path
