"""The stream plot of one cell in the window: signals by default, lanes, toggles, look."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF, Qt

import datakit
from datakit.sources.signals import ALL_ROIS, declared_signals, is_bookkeeping_name
from datakit_gui import look
from datakit_gui.lanes import MASTER_LABEL

TASKS = ("task-widefield", "task-gratings", "task-movies")


def cell_of(dataset, task: str) -> tuple:
    """The cell of ``task`` with the most files."""
    inventory = dataset.inventory
    rows = inventory[inventory.index.get_level_values("Task") == task]
    return tuple(rows.notna().sum(axis=1).idxmax())


def declared_in(row) -> set:
    """(source, feature) of every declared signal the loaded row has data for."""
    out = set()
    for source in dict.fromkeys(row.index.get_level_values(0)):
        if not isinstance(row.get((source, "meta")), dict):        # missing or failed
            continue
        for signal in declared_signals(datakit.get_source_class(source)) or ():
            value = row.get((source, signal.feature))
            if signal.feature == ALL_ROIS or (isinstance(value, np.ndarray) and value.size):
                out.add((source, signal.feature))
    return out


def load(window, qtbot, key):
    with qtbot.waitSignal(window.state.cell_loaded, timeout=30000):
        window.state.select_cell(key)
    return window.plot


@pytest.mark.parametrize("task", TASKS)
def test_each_task_kind_shows_exactly_its_declared_signals(window, qtbot, demo_dataset, task):
    plot = load(window, qtbot, cell_of(demo_dataset, task))
    row = window.state.cell_frame.iloc[0]
    expected = declared_in(row)
    assert expected and set(plot.features.checked()) == expected
    assert set(plot.shown_features()) == expected
    assert len(plot.shown_features()) <= 12                    # was 56 curves for a widefield cell
    # no clock or counter is ticked; they are listed, unticked, in the collapsed group
    assert all(f == "time_elapsed_s" or not is_bookkeeping_name(f) for _, f in plot.features.checked())
    listed = set(plot.features.keys())
    assert {("dataqueue", "queue_elapsed"), ("dataqueue", "payload")} <= listed - expected
    more = plot.features.more_index()
    assert more.isValid() and not plot.feature_view.isExpanded(more)
    assert plot.feature_view.textElideMode() == Qt.TextElideMode.ElideMiddle
    index = plot.features.index_of(("dataqueue", "queue_elapsed"))
    assert "dataqueue.queue_elapsed" in index.data(Qt.ItemDataRole.ToolTipRole)
    # one lane per signal group, the unit on its y axis
    lanes, views = plot.lanes(), plot._visible_views()
    assert len(lanes) == len(views) == len(plot.plots)
    units = 0
    for view, (title, y_label) in zip(views, lanes):
        assert title.startswith(view.lane.source)
        unit = view.lane.items[0].unit
        if unit:
            units += 1
            assert unit in y_label and unit in view.plot.getAxis("left").labelText
    assert units >= 1
    # linked time axes, equal left-axis widths, no legend over the data, one time axis
    master = plot.plots[0].vb
    assert all(p.vb.linkedView(pg.ViewBox.XAxis) is master for p in plot.plots[1:])
    assert len({p.getAxis("left").width() for p in plot.plots}) == 1
    assert all(p.legend is None for p in plot.plots)
    assert [p.getAxis("bottom").isVisible() for p in plot.plots] == [False] * (len(lanes) - 1) + [True]
    assert plot.plots[-1].getAxis("bottom").labelText == MASTER_LABEL      # the demo is on the master clock
    # curves in the colour-blind-safe palette
    assert all(item.opts["pen"].color().getRgb()[:3] in look.PALETTE for item in plot.curve_items())
    # ROI sources are one image each, not a curve per ROI
    for view in views:
        if view.lane.kind == "rois":
            assert [type(i) for i in view.items[view.lane.items[0].key]] == [pg.ImageItem]
    if task == "task-widefield":
        assert ("mesomap", ALL_ROIS) in expected and ("meso_metadata", "time_elapsed_s") in expected
        assert not any(key[0] == "mesomap" and key[1] != ALL_ROIS for key in plot.shown_features())


def test_notes_show_their_full_text_on_hover(window, qtbot, demo_dataset):
    plot = load(window, qtbot, cell_of(demo_dataset, "task-gratings"))
    row = window.state.cell_frame.iloc[0]
    notes = [str(n) for n in row[("notes", "note")]]
    view = next(v for v in plot._visible_views() if v.lane.kind == "markers")
    scatter = view.items[("notes", "note")][0]
    assert scatter.opts["hoverable"]
    tips = [scatter.opts["tip"](x=p.pos().x(), y=p.pos().y(), data=p.data()) for p in scatter.points()]
    assert [tip.split(": ", 1)[1] for tip in tips] == notes
    lines = [i for p in plot.plots for i in p.items if isinstance(i, pg.InfiniteLine)]
    assert lines and all(getattr(line, "label", None) is None for line in lines)   # no label on data


def test_toggling_shows_or_hides_items_and_keeps_the_zoom(window, qtbot, demo_dataset):
    plot = load(window, qtbot, cell_of(demo_dataset, "task-widefield"))
    plot.plots[0].setXRange(3.0, 7.0, padding=0)
    zoom = plot.visible_range()
    items, built = plot.plot_item_count(), len(plot._views)
    signal = ("treadmill", "speed_mm")
    assert signal in plot.shown_features()
    plot.features.set_key_checked(signal, False)
    assert signal not in plot.shown_features() and not plot.features.is_checked(signal)
    assert plot.plot_item_count() == items and len(plot._views) == built
    plot.features.set_key_checked(signal, True)
    assert signal in plot.shown_features() and plot.plot_item_count() == items
    # an extra's lane is built the first time it is ticked, then shown and hidden
    extra = ("dataqueue", "payload")
    n_lanes = len(plot.lanes())
    plot.features.set_key_checked(extra, True)
    assert extra in plot.shown_features() and len(plot.lanes()) == n_lanes + 1
    assert ("dataqueue", "payload") in plot.lanes()
    items = plot.plot_item_count()
    for state in (False, True, False):
        plot.features.set_key_checked(extra, state)
        assert plot.plot_item_count() == items and (extra in plot.shown_features()) == state
    assert plot.visible_range() == pytest.approx(zoom)
    # the crosshair reads every shown curve at the cursor
    x = 5.0
    values = dict(plot.readout_at(x))
    curve = next(c for _, c in plot.items if c.key == signal)
    assert values[curve.name] == pytest.approx(curve.y[np.searchsorted(curve.t, x, side="right") - 1])
    (_, _), (y0, y1) = plot.plots[2].vb.viewRange()
    plot._mouse_moved((plot.plots[2].vb.mapViewToScene(QPointF(x, (y0 + y1) / 2)),))
    assert "t = 5.000 s" in plot.readout.text()
    assert all(view.crosshair.value() == pytest.approx(x) for view in plot._visible_views())


@pytest.mark.filterwarnings("ignore:no recordings found")
def test_an_empty_folder_says_what_the_app_looks_for(make_window, qtbot, tmp_path):
    window = make_window()
    (tmp_path / "empty").mkdir()
    with pytest.warns(UserWarning, match="no recordings found"), \
            qtbot.waitSignal(window.state.dataset_changed, timeout=30000):
        window.open_roots([tmp_path / "empty"])
    plot = window.plot
    assert plot.view_stack.currentWidget() is plot.message and not plot.plots
    assert "no recordings found" in plot.message.text() and "data/sub-" in plot.message.text()
    assert not plot.feature_view.isVisible()                  # no empty list beside it either


def test_the_window_applies_the_look_wherever_it_is_created(make_window):
    from PySide6.QtWidgets import QApplication

    pg.setConfigOptions(background="k", foreground="w")       # as if nobody configured pyqtgraph
    window = make_window()
    assert pg.getConfigOption("background") == look.BACKGROUND
    for view in (window.plot.graphics, window.heatmap.graphics):
        assert view.backgroundBrush().color().name() == "#ffffff"
    assert QApplication.font().pointSizeF() >= look.FONT_PT


def test_switching_cells_reuses_lane_plots_without_leftovers(window, qtbot, demo_dataset):
    widefield = cell_of(demo_dataset, "task-widefield")
    plot = load(window, qtbot, widefield)
    lanes, shown, items = plot.lanes(), plot.shown_features(), plot.plot_item_count()
    plots = set(map(id, plot.plots))
    load(window, qtbot, cell_of(demo_dataset, "task-gratings"))
    assert set(map(id, plot.plots)) <= plots                   # the gratings lanes reuse plots
    load(window, qtbot, widefield)
    assert (plot.lanes(), plot.shown_features(), plot.plot_item_count()) == (lanes, shown, items)
    for view in plot._visible_views():
        assert view.plot.vb.state["yInverted"] == (view.lane.kind in ("rois", "spans"))
