"""`python -m registration.synthetic`: writes a dataset and reports throughput."""

import runpy
import sys

import pytest

from registration.synthetic import true_pairs_from_truth
from registration.synthetic.__main__ import main


def test_cli_writes_records_and_truth_and_reports_speed(tmp_path, capsys):
    status = main(
        ["--count", "400", "--seed", "3", "--out", str(tmp_path), "--today", "2026-01-15"]
    )
    assert status == 0
    report = capsys.readouterr().out
    assert "wrote 400 records" in report
    assert "records/s" in report
    assert len((tmp_path / "records.ndjson").read_text(encoding="utf-8").splitlines()) == 400
    assert true_pairs_from_truth(tmp_path / "truth.csv")


def test_cli_rejects_an_unsupported_duplicate_rate(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--duplicate-rate", "0.9"]) == 2
    assert "duplicate_rate" in capsys.readouterr().err


def test_module_entry_point_exits_with_the_status(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["synthetic", "--count", "0", "--out", str(tmp_path)])
    monkeypatch.delitem(sys.modules, "registration.synthetic.__main__", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("registration.synthetic", run_name="__main__", alter_sys=True)
    assert exit_info.value.code == 0
    assert "wrote 0 records" in capsys.readouterr().out
