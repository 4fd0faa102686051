"""The multi-process metrics directory starts empty (a restarted container keeps its /tmp)."""

from tenancy.metrics import multiprocess_dir_prepare


def test_an_earlier_runs_values_are_removed_and_the_directory_created(tmp_path, monkeypatch):
    directory = tmp_path / "prometheus"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    multiprocess_dir_prepare()
    assert directory.is_dir()
    (directory / "counter_123.db").write_bytes(b"stale")
    (directory / "gauge_livemostrecent_456.db").write_bytes(b"stale")
    (directory / "README").write_text("not ours")
    multiprocess_dir_prepare()
    assert sorted(p.name for p in directory.iterdir()) == ["README"]


def test_single_process_mode_touches_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    multiprocess_dir_prepare()
    assert list(tmp_path.iterdir()) == []
