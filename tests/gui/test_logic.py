"""The GUI's pure logic: filter expressions, coverage codes, the Qt fix (streams: test_streams)."""
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


def test_qtfix_is_needed_while_python_3_11_is_supported():
    """The refcount workaround is for CPython < 3.12 (README, Workarounds): once datakit
    requires 3.12 this fails, and ``qtfix.apply``'s reference bump can go."""
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    minimum = tuple(int(p) for p in project["requires-python"].removeprefix(">=").split("."))
    assert minimum < (3, 12), "Python < 3.12 is no longer supported: remove qtfix's refcount bump"


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
