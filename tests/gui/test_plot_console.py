"""The stream plot of one cell, its exports, and the console."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF

TIME = "time_elapsed_s"


def numeric_features(row: pd.Series) -> list[str]:
    """source.feature of every numeric stream sampled at its source's time_elapsed_s."""
    out = []
    sources = list(dict.fromkeys(row.index.get_level_values(0)))
    for source in sources:
        meta = row.get((source, "meta"))
        if not isinstance(meta, dict) or meta.get("kind") != "timeseries":
            continue
        t = row.get((source, TIME))
        if not isinstance(t, np.ndarray) or not len(t):
            continue
        for feature, value in row.loc[source].items():
            if feature in (TIME, "meta") or not isinstance(value, np.ndarray):
                continue
            if value.ndim in (1, 2) and value.shape[-1] == len(t) and value.dtype.kind in "biuf":
                out.append(f"{source}.{feature}")
    return out


def richest_cell(dataset) -> tuple:
    inventory = dataset.inventory
    return tuple(inventory.notna().sum(axis=1).idxmax())


@pytest.fixture
def plotted(window, qtbot, demo_dataset):
    key = richest_cell(demo_dataset)
    with qtbot.waitSignal(window.state.cell_loaded, timeout=30000):
        window.state.select_cell(key)
    return window, key


def test_plot_has_one_curve_per_numeric_feature(plotted, demo_dataset):
    window, key = plotted
    row = demo_dataset.select(*key).materialize(strict=False, workers=1).iloc[0]
    expected = numeric_features(row)
    plot = window.plot
    assert len(expected) > 10
    assert len(plot.curve_items()) == len(expected)
    assert sorted(curve.name for _, curve in plot.items) == sorted(expected)
    sources = list(dict.fromkeys(name.split(".")[0] for name in expected))
    curve_plots = plot.plots[:len(sources)]
    assert [p.getAxis("left").labelText for p in curve_plots] == sources
    assert all(p.getViewBox().linkedView(pg.ViewBox.XAxis) is plot.plots[0].getViewBox()
               for p in plot.plots[1:])
    # psychopy or timestamps intervals are drawn as tracks; the experiment window is shaded
    streams = window.state.cell_streams
    assert streams.tracks and len(plot.plots) == len(sources) + len(streams.tracks)
    assert streams.window is not None
    regions = [i for i in plot.plots[0].items if isinstance(i, pg.LinearRegionItem)]
    assert regions and tuple(regions[0].getRegion()) == pytest.approx(streams.window)
    markers = [i for i in plot.plots[0].items if isinstance(i, pg.InfiniteLine) and getattr(i, "label", None) is not None]
    assert len(markers) == len(streams.markers)
    # long streams are clipped to the view and peak-downsampled
    item = plot.curve_items()[0]
    assert item.opts["clipToView"] and item.opts["autoDownsample"] and item.opts["downsampleMethod"] == "peak"


def test_feature_choice_and_crosshair(plotted, qtbot):
    window, _ = plotted
    plot = window.plot
    model = plot.features
    first = model.values()[0]
    model.set_checked([v for v in model.values() if v != first])
    assert first not in [c.name for _, c in plot.items]
    assert len(plot.curve_items()) == len(model.values()) - 1
    x = float(np.median(plot.items[0][1].t))
    values = dict(plot.readout_at(x))
    curve = plot.items[0][1]
    i = np.searchsorted(curve.t, x, side="right") - 1
    assert values[curve.name] == pytest.approx(curve.y[i])
    qtbot.waitUntil(lambda: plot.plots[0].vb.viewRange()[0][1] > x)   # auto-ranged to the data
    (_, _), (y0, y1) = plot.plots[0].vb.viewRange()
    scene = plot.plots[0].vb.mapViewToScene(QPointF(x, (y0 + y1) / 2))
    plot._mouse_moved((scene,))
    assert "t = " in plot.readout.text()
    assert all(line.isVisible() for line in plot.crosshairs)
    assert plot.crosshairs[0].value() == pytest.approx(x)


def test_toggling_features_keeps_zoom_and_scaling_keeps_readout(plotted, qtbot):
    window, _ = plotted
    plot = window.plot
    plot.plots[0].setXRange(3.0, 7.0, padding=0)
    values = plot.features.values()
    plot.features.set_checked(values[1:])
    assert plot.visible_range() == pytest.approx((3.0, 7.0))
    raw = dict(plot.readout_at(5.0))
    plot.normalize.setChecked(True)
    for item, curve in plot.items:
        finite = item.yData[np.isfinite(item.yData)]
        if finite.size and np.ptp(curve.y[np.isfinite(curve.y)]) > 0:
            assert finite.min() == pytest.approx(0.0) and finite.max() == pytest.approx(1.0)
    assert dict(plot.readout_at(5.0)) == raw                 # readout in real units
    assert plot.visible_range() == pytest.approx((3.0, 7.0))


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
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30000)
    assert not dock.started


def test_psychopy_trials_are_shaded_behind_every_curve(window, qtbot, demo_dataset):
    from datakit_gui.widgets.interval_shading import IntervalShading

    inventory = demo_dataset.inventory
    key = tuple(inventory[inventory["psychopy"].notna()].index[0])
    with qtbot.waitSignal(window.state.cell_loaded, timeout=30000):
        window.state.select_cell(key)
    streams = window.state.cell_streams
    trials = streams.tracks["psychopy"]
    expected = np.sort(np.concatenate([np.column_stack([tr.starts, tr.stops]) for tr in trials]), axis=0)
    assert len(expected) > 3
    plot = window.plot
    curve_plots = plot.plots[:len(streams.curve_sources)]
    assert curve_plots
    for p in curve_plots:
        shading = [i for i in p.items if isinstance(i, IntervalShading)]
        assert len(shading) == len(trials)
        drawn = np.sort(np.array([iv for s in shading for iv in s.intervals()]), axis=0)
        assert np.allclose(drawn, expected)
        assert not shading[0].boundingRect().isEmpty()
    assert "psychopy trials" in plot.title.text()
