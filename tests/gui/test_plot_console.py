"""The stream plot's exports, reusing a materialized frame, and the console."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def richest_cell(dataset) -> tuple:
    inventory = dataset.inventory
    return tuple(inventory.notna().sum(axis=1).idxmax())


@pytest.fixture
def plotted(window, qtbot, demo_dataset):
    key = richest_cell(demo_dataset)
    with qtbot.waitSignal(window.state.cell_loaded, timeout=30000):
        window.state.select_cell(key)
    return window, key


def test_export_png_and_visible_csv(plotted, qtbot, tmp_path):
    window, _ = plotted
    plot = window.plot
    png = tmp_path / "figure.png"
    with qtbot.waitSignal(plot.exported, timeout=30000):
        plot.export_png(str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    x0, x1 = 2.0, 6.0
    plot.plots[0].setXRange(x0, x1, padding=0)
    lo, hi = plot.visible_range()
    csv = tmp_path / "visible.csv"
    with qtbot.waitSignal(plot.exported, timeout=30000):
        plot.export_csv(str(csv))
    data = pd.read_csv(csv)
    assert list(data.columns) == ["time_s", "source", "feature", "value"]
    assert data["time_s"].between(lo, hi).all()
    names = set(data["source"] + "." + data["feature"])
    assert names == {c.name for _, c in plot.items}


def test_selecting_a_materialized_cell_reuses_the_frame(window, qtbot, executor):
    with qtbot.waitSignal(window.state.frame_changed, timeout=60000):
        window.actions["materialize"].trigger()
    submitted = executor.submitted
    key = tuple(window.state.frame.index[0])
    with qtbot.waitSignal(window.state.cell_loaded, timeout=30000):
        window.state.select_cell(key)
    assert executor.submitted == submitted
    assert window.plot.curve_items()


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_console_evaluates_df_shape(window, qtbot):
    dock = window.console_dock
    assert not dock.started                               # lazy
    with qtbot.waitSignal(window.state.frame_changed, timeout=60000):
        window.actions["materialize"].trigger()
    with qtbot.waitSignal(dock.kernel_ready, timeout=30000):
        window.actions["console"].trigger()
    assert dock.isVisible() and dock.objectName() == "consoleDock"
    namespace = dock.namespace
    assert namespace["window"] is window and namespace["state"] is window.state
    assert namespace["ds"] is window.state.filtered
    dock.execute("shape = df.shape")
    qtbot.waitUntil(lambda: namespace.get("shape") == window.state.frame.shape, timeout=30000)
    dock.execute("n_cells = len(ds)")
    qtbot.waitUntil(lambda: namespace.get("n_cells") == len(window.state.filtered), timeout=30000)
    dock.execute("df.shape")                              # shown as the user would see it
    shown = f"Out[3]: {window.state.frame.shape}"
    qtbot.waitUntil(lambda: shown in dock.console._control.toPlainText(), timeout=30000)
    # ds follows the filters
    subject = window.state.dataset.subjects[0]
    window.state.set_axis("subject", type(window.state.filters.subject)("exclude", (subject,)))
    assert namespace["ds"] is window.state.filtered and subject not in namespace["ds"].subjects
    assert dock.height() >= min(0.3 * window.height(), 240)      # opens at a useful height
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30000)
    assert not dock.started


def test_console_opens_at_a_useful_height_and_the_layout_is_remembered(make_window, qtbot, monkeypatch,
                                                                       tmp_path):
    from datakit_gui.widgets.console import ConsoleDock

    monkeypatch.setattr(ConsoleDock, "start", lambda self: None)      # no kernel needed here
    settings = tmp_path / "layout.ini"
    first = make_window(settings)
    qtbot.waitUntil(lambda: 0 < first.report_dock.height() < 240)   # the default bottom area
    first.actions["console"].trigger()
    qtbot.waitUntil(lambda: first.console_dock.height() >= 0.3 * first.height())
    opened = first.console_dock.height()
    first.close()
    qtbot.waitUntil(lambda: not first.isVisible())
    second = make_window(settings)
    qtbot.waitUntil(lambda: second.console_dock.isVisible() and second.console_dock.height() > 0)
    assert abs(second.console_dock.height() - opened) < 0.15 * opened
    second.actions["console"].trigger()                               # a remembered height stays
    assert abs(second.console_dock.height() - opened) < 0.15 * opened


def test_psychopy_trials_are_shaded_behind_every_signal_lane(window, qtbot, demo_dataset):
    from datakit_gui.widgets.interval_shading import IntervalShading

    inventory = demo_dataset.inventory
    key = tuple(inventory[inventory["psychopy"].notna()].index[0])
    with qtbot.waitSignal(window.state.cell_loaded, timeout=30000):
        window.state.select_cell(key)
    streams = window.state.cell_streams
    trials = streams.item(("psychopy", "start_s")).tracks
    expected = np.sort(np.concatenate([np.column_stack([tr.starts, tr.stops]) for tr in trials]), axis=0)
    assert len(expected) > 3
    plot = window.plot
    lanes = [view for view in plot._visible_views() if view.lane.kind in ("curve", "rois")]
    assert lanes
    for view in lanes:
        shading = [i for i in view.plot.items if isinstance(i, IntervalShading)]
        assert len(shading) == 1 and shading[0].isVisible()
        assert np.allclose(np.sort(np.array(shading[0].intervals()), axis=0), expected)
        assert not shading[0].boundingRect().isEmpty()
    assert "psychopy trials" in plot.title.text()
    plot.features.set_key_checked(("psychopy", "start_s"), False)     # the shading follows the tick
    assert not any(i.isVisible() for v in lanes for i in v.plot.items if isinstance(i, IntervalShading))
