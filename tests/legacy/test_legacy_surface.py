"""The earlier surface: explore, get_logger, settings, LoadError's cause, the shell's names
and the command-line aliases (reference §3.1, §3.13, §3.14, §3.16)."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings
from datetime import datetime
from pathlib import Path

import pytest

import datakit
from datakit.cli import main
from datakit.demo import write_session
from datakit.explore import DatasetInventoryReport, MaterializedReport
from datakit.shell import build_namespace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def small(tmp_path):
    """A tiny experiment the CLI may write into (processed/)."""
    root = tmp_path / "exp"
    write_session(root, "A", 1, "widefield", duration=20, kinds=("dataqueue", "treadmill", "notes"))
    return root


# ---------------------------------------------------------------------------------
# explore


def test_explore_a_folder_reads_no_data_file(legacy_root, monkeypatch, capsys):
    calls = []
    for cls in datakit.registered_sources().values():
        monkeypatch.setattr(cls, "load", lambda self, path, context=None: calls.append(path))
    report = datakit.explore(legacy_root)
    assert calls == []
    assert isinstance(report, DatasetInventoryReport)
    assert (report.n_subjects, report.n_sessions, report.n_tasks) == (1, 1, 3)
    tags = {t.tag: t for t in report.tags}
    assert tags["suite2p"].file_count == 1 and tags["suite2p"].coverage_pct == pytest.approx(33.3)
    assert tags["dataqueue"].extensions == (".csv",) and report.n_total_files == sum(
        t.file_count for t in report.tags)
    assert report.coverage_matrix["dataqueue"] == {"STREHAB07": 100.0}
    assert "DATASET INVENTORY" in capsys.readouterr().out


def test_explore_dataset_frame_and_saved_files(legacy_ds, legacy_df, tmp_path, capsys):
    assert datakit.explore(legacy_ds, print_output=False).roots == (str(legacy_ds.roots[0]),)
    assert capsys.readouterr().out == ""
    report = datakit.explore(legacy_df, print_output=False)
    assert isinstance(report, MaterializedReport)
    assert report.shape == legacy_df.shape and report.index_names == ("Subject", "Session", "Task")
    assert report.index_counts == {"Subject": 1, "Session": 1, "Task": 3}
    assert "deltaf_f" in report.source_features["suite2p"]
    info = {(c.source, c.feature): c for c in report.columns}
    assert info[("meso_mean", "Mean")].detail.startswith("ndarray float64 (")
    assert info[("suite2p", "meta")].detail.startswith("dict(")
    assert report.coverage["suite2p"] == pytest.approx(33.3)
    for suffix in (".pkl", ".pickle", ".h5"):
        path = datakit.io.save_frame(legacy_df, tmp_path / f"x{suffix}")
        assert datakit.explore(path, print_output=False).shape == legacy_df.shape
    assert datakit.explore.render(report).startswith("=")
    assert datakit.explore.materialized(legacy_df).shape == legacy_df.shape
    assert isinstance(datakit.explore.inventory(legacy_ds), datakit.explore.DatasetInventoryReport)
    with pytest.raises(TypeError):
        datakit.explore(42)
    (tmp_path / "x.csv").write_text("a\n")
    with pytest.raises(ValueError, match="cannot explore"):
        datakit.explore(tmp_path / "x.csv")
    with pytest.raises(FileNotFoundError):
        datakit.explore(tmp_path / "nope")


# ---------------------------------------------------------------------------------
# the two bugs


def test_from_datakit_import_settings_gives_the_settings():
    from datakit import settings

    assert isinstance(settings, datakit.Settings)
    before = datakit.get_settings()
    try:
        datakit.configure(master_camera_rate_hz=49.72)
        from datakit import settings as now

        assert now.master_camera_rate_hz == 49.72 and datakit.settings is now
    finally:
        datakit.configure(before)


def test_load_error_chains_the_workers_exception(tmp_path):
    for subject in ("E1", "E2"):   # two cells: the process pool is used
        files = write_session(tmp_path, subject, 1, "widefield", duration=20, kinds=("treadmill",))
    files.paths["treadmill"].write_text("timestamp,distance_mm,speed_mm\nx,y,z\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        ds = datakit.Dataset.from_directory(tmp_path)
    with pytest.raises(datakit.LoadError) as info:
        ds.materialize(workers=2)
    cause = info.value.__cause__
    assert isinstance(cause, ValueError) and "no row has a numeric timestamp" in str(cause)
    assert "treadmill.py" in str(cause.__cause__)          # the worker's traceback text


# ---------------------------------------------------------------------------------
# shell names


def test_shell_namespace_has_the_earlier_and_the_current_names(legacy_root, legacy_df, tmp_path):
    namespace, banner = build_namespace(legacy_root)
    assert namespace["dataset"] is namespace["ds"]
    assert namespace["inventory"].equals(namespace["ds"].inventory)
    assert isinstance(namespace["report"], DatasetInventoryReport)
    assert namespace["explore"] is datakit.explore and namespace["datakit"] is datakit
    assert "dataset (= ds)" in banner
    path = datakit.io.save_frame(legacy_df, tmp_path / "x.h5")
    namespace, _ = build_namespace(path)
    assert namespace["df"].shape == legacy_df.shape
    assert isinstance(namespace["report"], MaterializedReport)
    namespace, _ = build_namespace(None)
    assert {"datakit", "explore"} <= set(namespace)


# ---------------------------------------------------------------------------------
# command line


def test_tags_option_is_the_source_filter(small, capsys):
    assert main(["inspect", str(small), "-t", "notes", "--tags", "treadmill"]) == 0
    out = capsys.readouterr().out
    assert "notes" in out and "treadmill" in out and "dataqueue " not in out
    assert main(["validate", str(small), "-t", "notes", "--workers", "1"]) == 0
    assert "1 source" in capsys.readouterr().out


def test_build_defaults_format_and_shell(small, capsys, monkeypatch):
    opened = []
    monkeypatch.setattr("datakit.shell.open_shell",
                        lambda target, hdf_key="dataset": opened.append((target, hdf_key)) or 0)
    stem = datetime.now().strftime("%y%m%d") + "_dataset_mvp"
    assert main(["build", str(small), "-t", "treadmill", "--workers", "1"]) == 0
    h5 = small / "processed" / f"{stem}.h5"
    assert h5.is_file() and f"wrote {h5}" in capsys.readouterr().out
    df = datakit.load_dataset(h5)
    assert set(df.columns.get_level_values("Source")) == {"treadmill"}
    assert main(["build", str(small), "-f", "pickle", "--shell", "--workers", "1"]) == 0
    pkl = small / "processed" / f"{stem}.pkl"
    assert pkl.is_file() and opened == [(pkl.resolve(), "dataset")]
    assert main(["build", str(small), "-f", "h5", "-o", str(small.parent / "y.pkl"),
                 "--workers", "1"]) == 0
    assert datakit.load_dataset(small.parent / "y.pkl", format="hdf5").shape[0] == 1


def test_explore_command(small, capsys):
    assert main(["explore", str(small)]) == 0
    assert "DATASET INVENTORY" in capsys.readouterr().out
    assert main(["build", str(small), "-o", str(small.parent / "x.h5"), "--workers", "1"]) == 0
    capsys.readouterr()
    assert main(["explore", str(small.parent / "x.h5"), "--hdf-key", "dataset"]) == 0
    assert "MATERIALIZED DATASET" in capsys.readouterr().out
    assert main(["explore", str(small.parent / "nope")]) == 2


def test_datakit_target_opens_the_shell(small):
    path = small.parent / "x.h5"
    assert main(["build", str(small), "-o", str(path), "--workers", "1"]) == 0
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "datakit", str(path)],
                          input="print('ROWS', df.shape[0], type(report).__name__)\n",
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "ROWS 1 MaterializedReport" in done.stdout
