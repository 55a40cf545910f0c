"""Tree and heatmap against inspect_sources, filters, clicks, hover, search."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
from PySide6.QtCore import QModelIndex, QPointF, Qt

import datakit
from datakit_gui import coverage as cov
from datakit_gui.models.tree_model import COUNTS_ROLE, KEY_ROLE


def tree_totals(window) -> dict:
    """Counts summed over the top-level (subject) rows of the tree, read through the model."""
    model = window.tree.model
    totals = dict.fromkeys(cov.COUNT_COLUMNS, 0)
    for row in range(model.rowCount()):
        counts = model.index(row, 0).data(COUNTS_ROLE)
        for name in totals:
            totals[name] += counts[name]
    return totals


def drawn_counts(window) -> pd.DataFrame:
    """Per-source counts of the colours in the heatmap image data."""
    codes = window.heatmap.coverage.codes
    return pd.DataFrame({"present": np.isin(codes, (cov.PRESENT, cov.OK, cov.ERROR)).sum(0),
                         "missing": (codes == cov.MISSING).sum(0)},
                        index=window.heatmap.coverage.sources)


def check_against(window, dataset) -> None:
    expected = datakit.inspect_sources(dataset)
    drawn = drawn_counts(window).loc[expected.index]
    assert drawn["present"].tolist() == expected["present"].tolist()
    assert drawn["missing"].tolist() == expected["missing"].tolist()
    totals = tree_totals(window)
    assert totals["present"] == int(expected["present"].sum())
    assert totals["missing"] == int(expected["missing"].sum())
    assert totals["included_cells"] == len(dataset.coverage())


def test_tree_and_heatmap_counts_equal_inspect_sources(window, demo_dataset):
    # rows: the recorded cells and the 2 tasks the protocol expects but were never recorded
    assert window.heatmap.coverage.n_cells == len(demo_dataset.coverage()) == len(demo_dataset) + 2
    assert window.heatmap.image.image.shape[1] == demo_dataset.coverage().shape[1]
    check_against(window, demo_dataset)
    model = window.tree.model
    assert model.rowCount() == len(demo_dataset.subjects)
    assert [model.index(r, 0).data() for r in range(model.rowCount())] == demo_dataset.subjects
    first = model.index(0, 0)
    assert model.rowCount(first) == len(demo_dataset.include(subject=demo_dataset.subjects[0]).sessions)
    # the legend shows the same totals as the image
    missing_total = int(datakit.inspect_sources(demo_dataset)["missing"].sum())
    assert f"({missing_total})" in window.heatmap.legend_labels[cov.MISSING].text()


def test_unchecking_a_subject_filters_tree_and_heatmap(window, demo_dataset):
    box = window.filters.boxes["subject"]
    dropped, kept = demo_dataset.subjects[0], demo_dataset.subjects[1:]
    row = box.model.values().index(dropped)
    assert box.model.setData(box.model.index(row), Qt.CheckState.Unchecked, Qt.ItemDataRole.CheckStateRole)
    expected = demo_dataset.include(subject=kept)
    assert len(window.state.filtered) == len(expected)
    check_against(window, expected)
    node = window.tree.model.index_for_key((dropped,))
    assert node.data(COUNTS_ROLE)["included_cells"] == 0
    assert node.data(Qt.ItemDataRole.ForegroundRole) is not None   # greyed out
    codes = window.heatmap.coverage.codes
    rows = [i for i, k in enumerate(window.heatmap.coverage.keys) if k[0] == dropped]
    assert (codes[rows] == cov.EXCLUDED).all()
    text = window.filters.expression.toPlainText()
    assert text == f"ds.include(subject={kept[0]!r})" if len(kept) == 1 else text.startswith("ds.include(")
    # the shown expression is real Python that gives the same selection
    evaluated = eval(text, {"ds": demo_dataset})
    assert evaluated.inventory.index.equals(window.state.filtered.inventory.index)


def test_hiding_excluded_cells_draws_only_what_the_filters_keep(window, demo_dataset, qtbot):
    heatmap = window.heatmap
    legend_before = {c: heatmap.legend_labels[c].text() for c in heatmap.legend_labels}
    window.filters.incomplete.setChecked(True)          # the cells with something missing
    kept = window.state.filtered
    assert 0 < len(kept) < heatmap.full.n_cells
    legend = {c: heatmap.legend_labels[c].text() for c in heatmap.legend_labels}
    heatmap.hide_button.setChecked(True)
    shown = heatmap.coverage
    wanted = set(map(tuple, kept.inventory.index.to_frame().astype(str).itertuples(index=False)))
    wanted |= set(map(tuple, kept.missing()[list(kept.inventory.index.names)].astype(str)
                      .itertuples(index=False)))
    assert set(shown.keys) == wanted                     # recorded and never-recorded kept cells
    assert not (shown.codes == cov.EXCLUDED).all(axis=1).any()
    assert {c: heatmap.legend_labels[c].text() for c in heatmap.legend_labels} == legend
    assert f"{heatmap.full.n_cells - shown.n_cells} left out by the filters are hidden" in heatmap.info.text()
    # a click on the first drawn row selects that cell, not the first of every cell
    scene_pos = heatmap.view_box.mapViewToScene(QPointF(0.5, 0.5))
    with qtbot.waitSignal(window.state.selection_changed, timeout=30000):
        qtbot.mouseClick(heatmap.graphics.viewport(), Qt.MouseButton.LeftButton,
                         pos=heatmap.graphics.mapFromScene(scene_pos))
    assert window.state.selection == shown.keys[0]
    # no cell passes: a message, the legend stays
    box = window.filters.boxes["subject"]
    box.model.set_checked([])
    assert heatmap.pages.currentWidget() is heatmap.empty and "No cell passes" in heatmap.empty.text()
    assert heatmap.legend_box.isVisible()
    box.model.set_checked(demo_dataset.subjects)
    heatmap.hide_button.setChecked(False)
    window.filters.incomplete.setChecked(False)
    assert heatmap.coverage.n_cells == heatmap.full.n_cells
    assert {c: heatmap.legend_labels[c].text() for c in heatmap.legend_labels} == legend_before


def test_exclude_mode_for_sources(window, demo_dataset):
    box = window.filters.boxes["source"]
    box.mode.setCurrentIndex(1)                       # exclude checked
    assert window.state.filters.source.mode == "exclude"
    assert window.filters.expression.toPlainText() == "ds"   # nothing checked: nothing excluded
    source = demo_dataset.sources[0]
    box.model.setData(box.model.index(0), Qt.CheckState.Checked, Qt.ItemDataRole.CheckStateRole)
    assert window.filters.expression.toPlainText() == f"ds.exclude(source={source!r})"
    expected = demo_dataset.exclude(source=source)
    assert window.state.filtered.sources == expected.sources
    column = window.heatmap.coverage.sources.index(source)
    assert (window.heatmap.coverage.codes[:, column] == cov.EXCLUDED).all()
    check_against(window, expected)
    window.filters.reset_button.click()
    check_against(window, demo_dataset)


def test_switching_mode_keeps_the_selection(window, demo_dataset):
    box = window.filters.boxes["session"]
    box.model.setData(box.model.index(0), Qt.CheckState.Unchecked, Qt.ItemDataRole.CheckStateRole)
    before = window.state.filtered.inventory.index
    box.mode.setCurrentIndex(1)
    assert window.state.filtered.inventory.index.equals(before)
    assert box.model.checked() == [demo_dataset.sessions[0]]   # the ticks invert


def test_clicking_the_heatmap_selects_cell_in_tree_and_plot(window, qtbot):
    heatmap = window.heatmap
    row, col = 3, 2
    key = heatmap.coverage.keys[row]
    scene_pos = heatmap.view_box.mapViewToScene(QPointF(col + 0.5, row + 0.5))
    pos = heatmap.graphics.mapFromScene(scene_pos)
    with qtbot.waitSignal(window.state.cell_loaded, timeout=30000):
        qtbot.mouseClick(heatmap.graphics.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert window.state.selection == key
    assert window.state.selected_source == heatmap.coverage.sources[col]
    current = window.tree.proxy.mapToSource(window.tree.view.currentIndex())
    assert current.data(KEY_ROLE) == key
    assert window.state.cell_key == key
    assert heatmap.highlight.isVisible()


def test_hover_text_names_file_size_and_error(window, demo_experiment, qtbot):
    coverage = window.heatmap.coverage
    rows, cols = np.nonzero(np.isin(coverage.codes, (cov.PRESENT, cov.OK)))
    text = window.heatmap.describe(rows[0], cols[0])
    path = coverage.paths[rows[0], cols[0]]
    assert path in text and re.search(r"\(\d+(\.\d)? (B|KiB|MiB|GiB)\)", text), text
    for row, col in np.argwhere(coverage.codes == cov.MISSING):
        assert "\nexpected: " in window.heatmap.describe(row, col)
    quiet = np.argwhere(coverage.codes == cov.NOT_EXPECTED)[0]
    assert "no rule expects one" in window.heatmap.describe(*quiet)
    with qtbot.waitSignal(window.state.report_changed, timeout=60000):
        window.actions["validate"].trigger()
    broken = demo_experiment.broken[0]
    row = window.heatmap.coverage.row_of((broken.subject, broken.session, broken.task))
    col = window.heatmap.coverage.sources.index(broken.tag)
    assert window.heatmap.coverage.codes[row, col] == cov.ERROR
    assert "truncated" in window.heatmap.describe(row, col)


def test_tree_search_box_filters(window):
    tree = window.tree
    total = tree.proxy.rowCount()
    subject = window.state.dataset.subjects[-1]
    tree.search.setText(subject)
    assert tree.proxy.rowCount() == 1
    assert tree.proxy.index(0, 0).data() == subject
    tree.search.setText("task-movies")
    shown = tree.proxy.rowCount()
    assert 1 <= shown <= total
    first_subject = tree.proxy.index(0, 0)
    session = tree.proxy.index(0, 0, first_subject)
    assert tree.proxy.index(0, 0, session).data() == "task-movies"
    tree.search.clear()
    assert tree.proxy.rowCount() == total


def test_selecting_in_tree_selects_the_cell(window, qtbot):
    model, proxy = window.tree.model, window.tree.proxy
    subject = model.index(0, 0)
    session = model.index(0, 0, subject)
    task = model.index(0, 0, session)
    key = task.data(KEY_ROLE)
    with qtbot.waitSignal(window.state.cell_loaded, timeout=30000):
        window.tree.view.setCurrentIndex(proxy.mapFromSource(task))
    assert window.state.selection == key
    window.tree.view.setCurrentIndex(proxy.mapFromSource(session))   # not a cell: no change
    assert window.state.selection == key
    assert not QModelIndex().isValid()


def test_heatmap_zoom_scroll_and_reduction(window):
    heatmap = window.heatmap
    n = heatmap.coverage.n_cells
    heatmap.view_box.setRange(yRange=(0, 4), padding=0)
    (_, _), (y0, y1) = heatmap.view_box.viewRange()
    assert y1 - y0 < n
    assert heatmap.scrollbar.maximum() > 0
    heatmap.scrollbar.setValue(heatmap.scrollbar.maximum())
    (_, _), (y0, y1) = heatmap.view_box.viewRange()
    assert abs(y1 - n) < 1.0
    heatmap.fit_all()
    (_, _), (y0, y1) = heatmap.view_box.viewRange()
    assert (y0, y1) == (0, n)
