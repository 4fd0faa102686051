"""The pure parts of `make bench`: wrk's output, ratios and targets, growth, the report.

Plus one run of the real wrk with rotate.lua against a throw-away loopback server, to prove the
Lua script sends every request line once at most across threads and offsets (registrations
must never repeat) and that its JSON summary parses.
"""

import json
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from benchmarks.service.data import api_json, search_path
from benchmarks.service.figures import (
    endpoint_of,
    evaluate_targets,
    growth,
    ratios,
    worst_ratio,
)
from benchmarks.service.gunicorn_profile import heaviest
from benchmarks.service.report import render_markdown, write_report
from benchmarks.service.wrk import WrkRun, ensure_wrk, parse_wrk_output, wrk_command, wrk_run
from registration.services.inputs import IdentifierInput, NameInput, PatientInput
from registration.synthetic import generate

WRK_STDOUT = """Running 3s test @ http://127.0.0.1:8000
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.11ms    3.20ms  40.00ms   80.00%
  1000 requests in 2.00s, 1.00MB read
Requests/sec:    500.00
"""
WRK_STDOUT += "BENCH_JSON " + json.dumps(
    {
        "requests": 1000,
        "duration_us": 2000000,
        "bytes": 1048576,
        "non2xx": 3,
        "errors": {"connect": 0, "read": 1, "write": 0, "status": 3, "timeout": 2},
        "latency_us": {
            "min": 900,
            "max": 40000,
            "mean": 12110.5,
            "stdev": 3200.0,
            "p50": 11000,
            "p90": 16000,
            "p95": 18250,
            "p99": 30500,
        },
    }
)


def run(
    rps: float, p50: float = 5.0, p95: float = 10.0, p99: float = 20.0, **extra: Any
) -> dict[str, Any]:
    return {
        "requests": 100,
        "rps": rps,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "non2xx": 0,
        "socket_errors": 0,
        **extra,
    }


def quality(f1: float) -> dict[str, Any]:
    return {"predicted": 10, "true_positives": 8, "precision": 0.8, "recall": 0.9, "f1": f1}


def batch_result(seconds: float, rss_mb: int, f1: float, splink_f1: float | None) -> dict[str, Any]:
    splink: dict[str, Any] = (
        {"finished": False, "reason": "not run: .local/bench-venv does not exist"}
        if splink_f1 is None
        else {
            "finished": True,
            "splink": "4.0",
            "duckdb": "1.1",
            "seconds": 12.5,
            "peak_rss_mb": 700,
            "quality": quality(splink_f1),
        }
    )
    return {
        "measured": True,
        "patients": 10_000,
        "true_pairs": 900,
        "seconds": seconds,
        "pairs_scored": 50_000,
        "pairs_per_second": round(50_000 / seconds, 1),
        "peak_rss_mb": rss_mb,
        "quality_probable_or_better": quality(f1),
        "quality_possible_or_better": quality(f1 - 0.05),
        "splink": splink,
    }


def size_result(
    full: float, bare: float, raw: float, search_p95: float, match_p95: float
) -> dict[str, Any]:
    return {
        "registration": {
            str(c): {"full": run(full * c), "bare": run(bare * c), "raw": run(raw * c)}
            for c in (1, 4, 16)
        },
        "search": {"1": run(80, p95=search_p95), "4": run(150, p95=search_p95 * 2)},
        "match": {"1": run(60, p95=match_p95), "4": run(120, p95=match_p95 * 2)},
        "ceiling_trigram": {**run(400, p95=4.0), "queries": 500},
        "fhir": {"measured": False, "reason": "the FHIR endpoints are not in this build"},
        "batch_dedupe": {"measured": False, "reason": "the batch dedupe job is not in this build"},
    }


@pytest.fixture
def results() -> dict[str, Any]:
    return {
        "date": "2026-11-29",
        "smoke": False,
        "commit": "abc1234",
        "machine": {
            "cores": 2,
            "memory_gb": 23.5,
            "platform": "Linux",
            "load_average_at_start": [0.1, 0.1, 0.1],
        },
        "versions": {
            "python": "3.11",
            "django": "5.2",
            "postgres": "15",
            "redis": "7",
            "gunicorn": "27",
            "wrk": "wrk 4.1.0",
        },
        "settings": {"sizes": [10_000, 100_000], "seconds": 15, "workers": 5, "seed": 7},
        "sizes": {
            "10000": size_result(40, 60, 300, search_p95=8.0, match_p95=12.0),
            "100000": size_result(30, 60, 300, search_p95=16.0, match_p95=30.0),
        },
        "outbox": {
            "measured": True,
            "raw_ceiling": {"events_per_second": 10_000},
            "relay": {"events_per_second": 4_000},
            "relay_vs_ceiling": 0.4,
            "backlog": 50_000,
            "rounds": 3,
            "lag": {
                "offered_target_per_second": 1000,
                "offered_achieved_per_second": 990,
                "produced": 19_800,
                "delivered": 19_800,
                "lag_ms": {"p50": 40.0, "p90": 90.0, "p99": 250.0},
            },
        },
        "wall_seconds": 900.0,
    }


def test_wrk_summary_is_parsed_into_milliseconds_and_failures() -> None:
    figures = parse_wrk_output(WRK_STDOUT)

    assert figures["requests"] == 1000
    assert figures["rps"] == 500.0
    assert (figures["p50_ms"], figures["p95_ms"], figures["p99_ms"]) == (11.0, 18.25, 30.5)
    assert figures["non2xx"] == 3
    assert figures["socket_errors"] == 3  # one read error and two timeouts


def test_wrk_output_without_the_summary_is_an_error() -> None:
    with pytest.raises(ValueError, match="BENCH_JSON"):
        parse_wrk_output("Running 3s test @ http://127.0.0.1:8000\n")


def test_wrk_command_is_bounded_and_keeps_the_key_off_the_command_line(tmp_path: Path) -> None:
    command = wrk_command(
        WrkRun(
            url="http://127.0.0.1:9",
            requests_file=tmp_path / "r.tsv",
            connections=1,
            seconds=2.4,
            offset=7,
            path_override="/bench/patient-row",
        )
    )

    assert command[command.index("-t") + 1] == "1"  # never more threads than connections
    assert command[command.index("-d") + 1] == "2s"
    assert command[-3:] == [str(tmp_path / "r.tsv"), "7", "/bench/patient-row"]
    assert not any("Api-Key" in part for part in command)


def test_ratios_put_every_figure_next_to_its_ceiling(results: dict[str, Any]) -> None:
    rows = {(r.figure, r.size): r for r in ratios(results)}

    assert rows["registration c=4 vs bare", 100_000].ratio == 0.5
    assert rows["registration c=1 vs raw", 10_000].ratio == pytest.approx(0.133, abs=1e-3)
    assert rows["match c=1 p95 vs trigram query", 100_000].ratio == 7.5
    assert not rows["match c=1 p95 vs trigram query", 100_000].higher_is_better
    assert rows["outbox relay vs SKIP LOCKED → XADD loop", 0].ratio == 0.4


def test_the_worst_ratio_is_the_endpoint_furthest_below_its_ceiling(
    results: dict[str, Any],
) -> None:
    worst = worst_ratio(ratios(results))

    assert worst is not None
    assert worst.size == 100_000  # the largest size, never the outbox
    assert worst.figure == "registration c=1 vs raw"
    assert endpoint_of(worst.figure) == "registration"
    assert worst_ratio([]) is None


def test_targets_say_met_or_missed_by_how_much(results: dict[str, Any]) -> None:
    targets = {t.target: t for t in evaluate_targets(results)}

    match = targets["online match p95 ≤ 25 ms at 1M"]
    assert match.status == "missed"
    assert match.detail.startswith("by 5.0 ms (20% over)")
    assert "target is at 1M" in match.detail  # measured at 100k only
    search = targets["search p95 ≤ 20 ms at 1M"]
    assert search.status == "met"
    registration = targets["registration ≥ 50% of the bare endpoint's req/s"]
    assert registration.status == "met"
    assert registration.measured == "50% (worst, at c=1)"
    relay = targets["relay ≥ 50% of the bare loop"]
    assert (relay.status, relay.detail) == ("missed", "by 10 percentage points")
    assert targets["relay lag p99 < 1 s at 1,000 events/s"].status == "met"
    batch = targets["batch dedupe of 1M ≤ 10 min"]
    assert (batch.status, batch.detail) == (
        "not measured",
        "the batch dedupe job is not in this build",
    )


def test_targets_without_runs_are_not_measured_never_invented() -> None:
    targets = evaluate_targets({"sizes": {}, "outbox": {"measured": False, "reason": "skipped"}})

    assert {t.status for t in targets} == {"not measured"}
    assert all(t.measured == "—" for t in targets)


def test_growth_compares_the_smallest_and_largest_sizes(results: dict[str, Any]) -> None:
    rows = {r["figure"]: r for r in growth(results)}

    assert rows["match c=1 p95"]["small"] == 12.0
    assert rows["match c=1 p95"]["large"] == 30.0
    assert rows["match c=1 p95"]["factor"] == 2.5
    assert rows["registration c=16 req/s"]["factor"] == 0.75
    assert growth({"sizes": {"10": results["sizes"]["10000"]}}) == []


def test_report_states_what_was_not_measured_and_why(results: dict[str, Any]) -> None:
    text = render_markdown(results)

    assert "not measured in this run: the FHIR endpoints are not in this build" in text
    assert "not measured in this run: the batch dedupe job is not in this build" in text
    assert "| online match p95 ≤ 25 ms at 1M | 30 ms at 100,000 | **missed** |" in text
    assert "SMOKE" not in text
    assert "not profiled in this run" in text


def test_smoke_reports_are_labelled_and_named_apart(
    results: dict[str, Any], tmp_path: Path
) -> None:
    results["smoke"] = True
    results["outbox"] = {"measured": False, "reason": "skipped (BENCH_OUTBOX=0)"}

    path = write_report(results, tmp_path)

    assert path.name == "2026-11-29-service-smoke.md"
    assert "SMOKE RUN (not real figures)" in path.read_text(encoding="utf-8")
    saved = json.loads((tmp_path / "2026-11-29-service-smoke.json").read_text(encoding="utf-8"))
    assert saved["targets"][-1]["detail"] == "skipped (BENCH_OUTBOX=0)"
    assert saved["ratios"]
    assert saved["growth"]


def test_api_json_is_the_rest_shape_of_a_service_input() -> None:
    data = PatientInput(
        names=(NameInput(family="Nguyen", given=("An", "Thi")),),
        gender="female",
        birth_date=date(1980, 2, 29),
        identifiers=(IdentifierInput(system="urn:mrn", value="123"),),
    )

    assert api_json(data) == {
        "names": [{"family": "Nguyen", "given": ["An", "Thi"], "use": "official"}],
        "gender": "female",
        "birth_date": "1980-02-29",
        "identifiers": [{"system": "urn:mrn", "value": "123", "use": "usual"}],
        "confidentiality": "normal",
    }


def test_search_paths_rotate_the_front_desks_criteria() -> None:
    person = next(p for p in generate(50, seed=3) if p.identifiers and p.birth_date and p.given)

    assert search_path(person, 0).startswith("/api/v1/patients?family=")
    assert "birth_date=" in search_path(person, 0)
    assert search_path(person, 1).startswith("/api/v1/patients?name=")
    assert search_path(person, 2).startswith("/api/v1/patients?identifier=")
    assert "birth_date=" in search_path(person, 3)


class _Recorder(BaseHTTPRequestHandler):
    bodies: ClassVar[list[str]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        with self.lock:
            self.bodies.append(f"{self.path} {self.headers['Authorization']} {body}")
        status = 201 if body != '{"n":3}' else 409
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_rotate_lua_sends_each_line_once_across_threads_and_offsets(tmp_path: Path) -> None:
    requests = tmp_path / "register.tsv"
    requests.write_text(
        "".join(f'POST\t/api/v1/patients\t{{"n":{n}}}\n' for n in range(400)), encoding="utf-8"
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    binary = ensure_wrk()
    bounded = WrkRun(url, requests, connections=2, seconds=5, max_requests_per_thread=50)
    try:
        first = wrk_run(
            bounded,
            "rsk_test_key",
            binary,
        )
        second = wrk_run(
            WrkRun(
                url,
                requests,
                connections=2,
                seconds=5,
                offset=first["requests"] + 8,
                path_override="/bench/patient-row",
                max_requests_per_thread=50,
            ),
            "rsk_test_key",
            binary,
        )
    finally:
        server.shutdown()
        server.server_close()

    assert first["requests"] == 50 * bounded.threads  # every thread stopped at its bound
    assert first["non2xx"] == 1  # the one 409 above, counted by the script
    sent = [b.split(" ", 2)[2] for b in _Recorder.bodies]
    assert len(sent) == len(set(sent))  # no line twice, within or across the two runs
    assert all(" Api-Key rsk_test_key " in b for b in _Recorder.bodies)
    assert sum(b.startswith("/bench/patient-row ") for b in _Recorder.bodies) == second["requests"]


def test_report_carries_the_profile_summary_or_why_there_is_none(
    results: dict[str, Any],
) -> None:
    results["profile"] = {
        "figure": "registration c=1 vs bare",
        "size": 100_000,
        "ratio": 0.5,
        "summary": "own wall time by package: psycopg 40%.",
        "path": ".local/bench/service/profiles/registration-100000.html",
    }
    assert "registration c=1 vs bare at 100,000 patients (ratio 0.5): own wall" in (
        render_markdown(results)
    )

    del results["profile"]
    results["profile_error"] = "the profiled worker wrote no profile"
    assert "profiling failed in this run: the profiled worker wrote no profile" in (
        render_markdown(results)
    )


def test_profile_summary_splits_all_wall_time_by_package() -> None:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    profiler.start()
    json.dumps([{"n": n} for n in range(100_000)])
    time.sleep(0.05)
    session = profiler.stop()
    totals: dict[str, float] = {}

    root = session.root_frame()
    heaviest(root, totals)

    assert root is not None
    assert sum(totals.values()) == pytest.approx(root.time)  # every sample once, none twice
    assert "json" in totals


def test_batch_targets_read_the_largest_size_against_time_memory_and_splink(
    results: dict[str, Any],
) -> None:
    results["sizes"]["10000"]["batch_dedupe"] = batch_result(20.0, 300, 0.95, 0.90)
    results["sizes"]["100000"]["batch_dedupe"] = batch_result(700.0, 900, 0.91, 0.93)

    targets = {t.target: t for t in evaluate_targets(results)}

    wall = targets["batch dedupe of 1M ≤ 10 min"]
    assert (wall.status, wall.size) == ("missed", 100_000)
    assert wall.detail.startswith("by 100.0 s (17% over)")
    assert "target is at 1M" in wall.detail
    memory = targets["batch dedupe worker peak RSS ≤ 1 GB"]
    assert (memory.status, memory.measured) == ("met", "900 MB")
    f1 = targets["batch dedupe F1 ≥ Splink's"]
    assert (f1.status, f1.measured) == ("missed", "0.910 vs Splink 0.930")
    assert f1.detail.startswith("by 0.020")


def test_batch_without_splink_is_measured_but_not_compared(results: dict[str, Any]) -> None:
    results["sizes"]["100000"]["batch_dedupe"] = batch_result(60.0, 400, 0.9, None)

    targets = {t.target: t for t in evaluate_targets(results)}

    assert targets["batch dedupe of 1M ≤ 10 min"].status == "met"
    f1 = targets["batch dedupe F1 ≥ Splink's"]
    assert (f1.status, f1.measured) == ("not measured", "—")
    assert f1.detail == "Splink not run: .local/bench-venv does not exist"
    assert not [r for r in ratios(results) if r.figure.startswith("batch")]
    text = render_markdown(results)
    assert "| ours, PROBABLE or better | 0.800 | 0.900 | 0.900 | 60.0 | 50,000 |" in text
    assert "| Splink | not run: .local/bench-venv does not exist |" in text


def test_batch_f1_is_a_ratio_to_splink_but_never_the_profiled_endpoint(
    results: dict[str, Any],
) -> None:
    results["sizes"]["100000"]["batch_dedupe"] = batch_result(60.0, 400, 0.45, 0.9)

    rows = {(r.figure, r.size): r for r in ratios(results)}
    worst = worst_ratio(list(rows.values()))

    assert rows["batch dedupe F1 vs Splink", 100_000].ratio == 0.5
    assert worst is not None
    assert endpoint_of(worst.figure) == "registration"  # 0.1 of raw; batch is not an endpoint
    assert "| Splink 4.0 (DuckDB 1.1, p ≥ 0.5) | 0.800 | 0.900 | 0.900 | 12.5 |" in (
        render_markdown(results)
    )


def test_growth_covers_batch_dedupe_and_fhir(results: dict[str, Any]) -> None:
    results["sizes"]["10000"]["batch_dedupe"] = batch_result(20.0, 300, 0.95, None)
    results["sizes"]["100000"]["batch_dedupe"] = batch_result(200.0, 600, 0.9, None)
    for size, p95 in (("10000", 10.0), ("100000", 25.0)):
        results["sizes"][size]["fhir"] = {
            "measured": True,
            "runs": {"read": {**run(50, p95=p95), "connections": 1}},
        }

    rows = {r["figure"]: r for r in growth(results)}

    assert rows["batch dedupe wall time"]["factor"] == 10.0
    assert rows["batch dedupe peak worker RSS"]["factor"] == 2.0
    assert rows["batch dedupe F1"]["large"] == 0.9
    assert rows["FHIR read p95"]["factor"] == 2.5
    assert "| read | 1 | 50 req/s; p50 5.0 / p95 25.0 / p99 20.0 ms |" in render_markdown(results)


def test_fhir_is_measured_by_its_real_paths() -> None:
    from benchmarks.service.bench import FHIR_PATHS, fhir_available

    assert "/fhir/Patient/$match" in FHIR_PATHS
    assert fhir_available() == {"measured": True}


def test_profile_cost_per_request_is_wall_and_cpu_over_the_profiled_requests() -> None:
    from benchmarks.service.gunicorn_profile import per_request

    assert per_request(2.0, 0.5, 40) == {
        "requests": 40,
        "cpu_seconds": 0.5,
        "wall_ms_per_request": 50.0,
        "cpu_ms_per_request": 12.5,
    }
    assert per_request(0.0, 0.0, 0) == {"requests": 0}
