"""The GUI's pure logic: filter expressions, coverage codes, stream extraction, the Qt fix."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from datakit_gui import coverage as cov
from datakit_gui.filters import (
    EXCLUDE,
    INCLUDE,
    AxisFilter,
    FilterSpec,
    axis_from_checked,
)
from datakit_gui.streams import extract, value_at, visible_frame


def test_filter_expression_is_what_apply_does(demo_dataset):
    subjects, sessions = demo_dataset.subjects, demo_dataset.sessions
    spec = (FilterSpec()
            .with_axis("subject", AxisFilter(INCLUDE, subjects[:1]))
            .with_axis("session", AxisFilter(EXCLUDE, sessions[:1]))
            .with_axis("source", AxisFilter(EXCLUDE, ["wheel", "notes"])))
    text = spec.expression()
    assert text == (f"ds.include(subject={subjects[0]!r}).exclude(session={sessions[0]!r})"
                    ".exclude(source=['wheel', 'notes'])")
    by_hand = eval(text, {"ds": demo_dataset})
    applied = spec.apply(demo_dataset)
    assert applied.inventory.index.equals(by_hand.inventory.index)
    assert applied.sources == by_hand.sources
    assert "wheel" not in applied.sources and set(applied.sessions) == set(sessions[1:])
    assert FilterSpec().expression() == "ds" and not FilterSpec().active


def test_axis_semantics():
    universe = ["a", "b", "c"]
    assert axis_from_checked(INCLUDE, universe, universe) == AxisFilter(INCLUDE, None)
    assert axis_from_checked(INCLUDE, [], universe).values == ()       # nothing kept
    assert axis_from_checked(EXCLUDE, [], universe).active is False
    spec = FilterSpec().with_axis("task", AxisFilter(INCLUDE, ["a"]))
    flipped = spec.with_mode("task", EXCLUDE, universe)
    assert flipped.task == AxisFilter(EXCLUDE, ("b", "c"))
    assert flipped.task.kept(universe) == spec.task.kept(universe) == ["a"]
    pruned = flipped.pruned({"task": ["a", "c"], "subject": ["x"], "session": ["y"], "source": ["z"]})
    assert pruned.task.values == ("c",)
    with pytest.raises(ValueError):
        AxisFilter("keep")


def test_coverage_codes_follow_filters_and_report(demo_dataset):
    full = demo_dataset
    filtered = full.exclude(subject=full.subjects[0])
    empty = cov.build(full, filtered, None)
    assert (empty.codes[[k[0] == full.subjects[0] for k in empty.keys]] == cov.EXCLUDED).all()
    key = tuple(filtered.inventory.index[0])
    source = filtered.inventory.loc[key].first_valid_index()
    path = filtered.inventory.loc[key, source]
    report = pd.DataFrame([[*key, source, "error", path, "ValueError", "bad", "tb"],
                           [*key, "wheel", "ok", "/elsewhere", None, None, None]],
                          columns=["Subject", "Session", "Task", "Source", "status", "path",
                                   "error_type", "message", "traceback"], dtype=object)
    withreport = cov.build(full, filtered, report)
    row, col = withreport.row_of(key), withreport.sources.index(source)
    assert withreport.codes[row, col] == cov.ERROR
    assert withreport.status_at(row, col)["message"] == "bad"
    # a result for another file than the one in the inventory does not count
    wheel = withreport.sources.index("wheel")
    assert withreport.codes[row, wheel] in (cov.PRESENT, cov.MISSING)
    counts = withreport.source_counts()
    assert counts.loc[source, "failed"] == 1


def test_block_worst_keeps_the_most_serious_status():
    codes = np.full((10, 2), cov.OK, dtype=np.uint8)
    codes[7, 1] = cov.ERROR
    codes[2, 0] = cov.MISSING
    reduced = cov.block_worst(codes, 4)
    assert reduced.shape == (3, 2)
    assert reduced[:, 1].tolist() == [cov.OK, cov.ERROR, cov.OK]
    assert reduced[:, 0].tolist() == [cov.MISSING, cov.OK, cov.OK]


def make_row():
    t = np.linspace(0, 10, 101)
    data = {
        ("treadmill", "speed_mm"): np.sin(t), ("treadmill", "ticks"): np.arange(101),
        ("treadmill", "label"): np.array(["x"] * 101, dtype=object),
        ("treadmill", "time_elapsed_s"): t,
        ("treadmill", "meta"): {"kind": "timeseries", "time_basis": "master",
                                "experiment_window": [0.0, 9.0]},
        ("suite2p", "deltaf_f"): np.ones((3, 101)), ("suite2p", "iscell"): np.ones(3),
        ("suite2p", "time_elapsed_s"): t, ("suite2p", "meta"): {"kind": "timeseries"},
        ("notes", "note"): np.array(["start", "stop"], dtype=object),
        ("notes", "time_elapsed_s"): np.array([1.0, 8.0]), ("notes", "meta"): {"kind": "timeseries"},
        ("timestamps", "device_id"): np.array(["cam", "cam", "enc"], dtype=object),
        ("timestamps", "start_s"): np.array([0.0, 5.0, 1.0]),
        ("timestamps", "stop_s"): np.array([4.0, 9.0, 9.5]),
        ("timestamps", "time_elapsed_s"): np.array([0.0, 5.0, 1.0]),
        ("timestamps", "meta"): {"kind": "intervals"},
        ("session_config", "weight"): 21.5, ("session_config", "meta"): {"kind": "table"},
    }
    return pd.Series(data, dtype=object)


def test_extract_streams_from_a_row():
    streams = extract(make_row(), ("S", "ses-01", "task-x"))
    assert [c.name for c in streams.curves] == ["treadmill.speed_mm", "treadmill.ticks", "suite2p.deltaf_f"]
    assert streams.curves[2].note == "mean of 3 ROIs" and np.allclose(streams.curves[2].y, 1.0)
    assert [(m.t, m.text) for m in streams.markers] == [(1.0, "start"), (8.0, "stop")]
    tracks = streams.tracks["timestamps"]
    assert [(tr.label, len(tr.starts)) for tr in tracks] == [("cam", 2), ("enc", 1)]
    assert streams.window == (0.0, 9.0)
    assert streams.tables == ["session_config"]
    curve = streams.curves[0]
    assert value_at(curve, 5.05) == pytest.approx(np.sin(5.0))
    assert value_at(curve, -1) is None
    frame = visible_frame(streams.curves[:2], 2.0, 3.0)
    assert frame["time_s"].between(2.0, 3.0).all() and len(frame) == 2 * 11


def test_qtfix_keeps_a_long_session_alive():
    """Without the workaround PySide6 6.12.0 on Python 3.11 aborts ("none_dealloc")."""
    code = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication([])
from datakit_gui import qtfix
print("affected", qtfix.apply())
class O(QObject):
    fired = Signal()
o, w = O(), QWidget()
for i in range(300000):
    o.fired.emit()
    w.setToolTip("x")
print("survived")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "survived" in out.stdout


def test_merging_reports_replaces_rows_in_place(demo_dataset):
    from datakit_gui.state import AppState

    state = AppState()
    state.set_dataset(demo_dataset)
    columns = ["Subject", "Session", "Task", "Source", "status", "path", "error_type", "message",
               "traceback"]
    keys = list(demo_dataset.inventory.index[:2])
    first = pd.DataFrame([[*k, s, "ok", None, None, None, None] for k in keys for s in ("wheel", "notes")],
                         columns=columns, dtype=object)
    state.merge_report(first)
    assert len(state.report) == 4 and state.report_update is None
    again = first.iloc[[1]].copy()
    again["status"], again["message"] = "error", "broken"
    state.merge_report(again)
    assert len(state.report) == 4 and list(state.report_update) == [1]
    assert state.report.iloc[1]["message"] == "broken" and state.report.iloc[0]["status"] == "ok"
    new = first.iloc[[0]].copy()
    new["Source"] = "psychopy"
    state.merge_report(new)
    assert len(state.report) == 5 and state.report_update is None
