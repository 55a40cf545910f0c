"""The coverage heatmap: one row per cell, one column per source, coloured by status.

An ``ImageItem`` of RGB pixels over the coverage codes.  When more rows are in view than
pixels, rows are reduced in blocks keeping the most serious status of each block, so a
single error or missing file stays visible in the overview.  Mouse wheel scrolls,
Ctrl+wheel (or +/-) zooms, the scroll bar pans; hovering shows the file, its size and
any error; clicking selects the cell (and source) in AppState.
"""
from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QActionGroup, QColor, QCursor, QPen
from PySide6.QtWidgets import (
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QMenu,
    QScrollBar,
    QStackedWidget,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import QFlowLayout

from datakit.expectations import NOT_RECORDED
from datakit.formats import human_bytes as human_size

from .. import coverage as cov
from ..icons import swatch
from .heatmap_axes import CellAxis, SourceAxis

LEGEND_ORDER = (cov.OK, cov.PRESENT, cov.MISSING, cov.ERROR, cov.NOT_EXPECTED, cov.EXCLUDED)
WHY = {"declared": "datakit.toml declares {source} for it",
       "manifest": "manifest.json lists {source} for it", "inferred": "most cells of the task have {source}"}


def why_text(reason: str, detail: str, source: str) -> str:
    """Why a missing (cell, source) is expected, in one line."""
    if reason == "manifest":
        return f"expected: manifest.json lists {detail}, which is gone"
    if detail == NOT_RECORDED:
        return ("expected: this task was never recorded in this session, and "
                + WHY[reason].format(source=source))
    return f"expected: {detail}"
LEGEND_TIPS = {
    cov.OK: "A file that loaded without error when validated",
    cov.PRESENT: "A file is there; not validated yet (Validate, Ctrl+Shift+V)",
    cov.MISSING: "No file, and one is expected (datakit.toml, manifest.json, or most cells "
                 "of the task have it); hover a cell to see why",
    cov.ERROR: "A file that failed to load; hover for the error",
    cov.NOT_EXPECTED: "No file, and none is expected for this task",
    cov.EXCLUDED: "Left out by the filters",
}
EMPTY_TEXT = (
    "<p><b>No recordings found in {where}.</b></p>"
    "<p>datakit looks under the folder's <code>data/</code> and <code>processed/</code> "
    "for the files of known sources, named like<br><code>data/sub-&lt;subject&gt;/"
    "ses-&lt;N&gt;/beh/&lt;YYYYMMDD_HHMMSS&gt;_sub-&lt;subject&gt;_ses-&lt;N&gt;_task-&lt;task&gt;"
    "_dataqueue.csv</code>.</p><p>Open the experiment folder that holds <code>data/</code> "
    "(File &gt; Open Folder, Ctrl+O), or try the demo experiment.</p>")


class RowViewBox(pg.ViewBox):
    """Wheel scrolls rows; Ctrl+wheel zooms (like a long table)."""

    def wheelEvent(self, ev, axis=None):
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis=1)
            return
        (_, _), (y0, y1) = self.viewRange()
        step = max(1.0, (y1 - y0) * 0.1)
        self.translateBy(y=-np.sign(ev.delta()) * step)
        ev.accept()


class CoverageHeatmap(QWidget):
    cell_clicked = Signal(tuple, str)
    expectation_requested = Signal(str, str, bool)   # task key ("*" without tasks), source, expected

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.setObjectName("coverageHeatmap")
        self.state = state
        self.coverage: cov.Coverage | None = None   # what is drawn
        self.full: cov.Coverage | None = None       # every cell (the legend counts these)
        self._lut = cov.lookup_table()
        self._factor = 0
        self._syncing = False

        self.legend_labels: dict[int, QLabel] = {}
        legend = QFlowLayout()     # wraps, so the legend never forces the panel wider
        legend.setContentsMargins(6, 2, 6, 2)
        for code in LEGEND_ORDER:
            item = QWidget()
            row = QHBoxLayout(item)
            row.setContentsMargins(0, 0, 8, 0)
            row.setSpacing(4)
            icon = QLabel()
            icon.setPixmap(swatch(code))
            text = QLabel(cov.LABELS[code])
            text.setObjectName(f"legend_{cov.SHORT[code].replace(' ', '_')}")
            item.setToolTip(LEGEND_TIPS[code])
            self.legend_labels[code] = text
            row.addWidget(icon)
            row.addWidget(text)
            legend.addWidget(item)
        self.fit_button = QToolButton(text="Show all cells")
        self.fit_button.setToolTip("Zoom out to every cell (Ctrl+0)")
        self.fit_button.clicked.connect(self.fit_all)
        legend.addWidget(self.fit_button)
        self.hide_button = QToolButton(text="Hide excluded cells")
        self.hide_button.setObjectName("heatmapHideExcluded")
        self.hide_button.setCheckable(True)
        self.hide_button.setToolTip("Draw only the cells the filters keep (for example the "
                                    "cells with something missing), each row taller")
        self.hide_button.toggled.connect(lambda _on: self.set_coverage(self.full))
        legend.addWidget(self.hide_button)

        self.cell_axis = CellAxis()
        self.source_axis = SourceAxis()
        self.view_box = RowViewBox(enableMenu=False)
        self.view_box.invertY(True)
        self.view_box.setMouseEnabled(x=False, y=True)
        self.view_box.setDefaultPadding(0.0)
        self.plot = pg.PlotItem(viewBox=self.view_box,
                                axisItems={"left": self.cell_axis, "top": self.source_axis})
        self.plot.hideAxis("bottom")
        self.plot.showAxis("top")
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.separators = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(60, 60, 60, 200, width=1))
        self.columns = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen("w", width=2))
        self.plot.addItem(self.columns)
        self.plot.addItem(self.separators)
        self.highlight = QGraphicsRectItem()
        pen = QPen(QColor(20, 20, 20), 2)
        pen.setCosmetic(True)
        self.highlight.setPen(pen)
        self.highlight.setZValue(10)
        self.highlight.hide()
        self.view_box.addItem(self.highlight, ignoreBounds=True)

        self.source_axis.enableAutoSIPrefix(False)
        self.cell_axis.enableAutoSIPrefix(False)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("coverageHeatmapView")
        self.graphics.addItem(self.plot)
        self.empty = QLabel()
        self.empty.setObjectName("heatmapEmpty")
        self.empty.setWordWrap(True)
        self.empty.setTextFormat(Qt.TextFormat.RichText)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setMargin(24)
        self.scrollbar = QScrollBar(Qt.Orientation.Vertical)
        self.scrollbar.valueChanged.connect(self._scrolled)
        self.info = QLabel("Open an experiment folder to see its coverage.")
        self.info.setObjectName("heatmapInfo")
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info.setMinimumWidth(10)
        self.info.setWordWrap(True)

        grid = QWidget()
        middle = QHBoxLayout(grid)
        middle.setContentsMargins(0, 0, 0, 0)
        middle.addWidget(self.graphics, 1)
        middle.addWidget(self.scrollbar)
        self.pages = QStackedWidget()
        self.pages.addWidget(grid)
        self.pages.addWidget(self.empty)
        self.legend_box = QWidget()
        self.legend_box.setLayout(legend)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.legend_box)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.info)

        self.view_box.sigYRangeChanged.connect(self._range_changed)
        self.view_box.sigResized.connect(self._range_changed)
        self._hover_proxy = pg.SignalProxy(self.graphics.scene().sigMouseMoved, rateLimit=30,
                                           slot=self._hovered)
        self.graphics.scene().sigMouseClicked.connect(self._clicked)
        state.coverage_changed.connect(self._coverage_changed)
        state.selection_changed.connect(self._show_selection)

    # content ----------------------------------------------------------------------

    def _coverage_changed(self) -> None:
        self.set_coverage(self.state.coverage)

    def set_coverage(self, coverage: cov.Coverage | None) -> None:
        previous = self.coverage
        self.full = coverage
        if coverage is not None and self.hide_button.isChecked():
            coverage = cov.included_only(coverage)
        self.coverage = coverage
        same_cells = (previous is not None and coverage is not None
                      and previous.n_cells == coverage.n_cells and previous.sources == coverage.sources
                      and previous.index.equals(coverage.index))
        if self.full is not None and self.full.n_cells and self.full.sources and not coverage.n_cells:
            self._show_nothing_kept()
            return
        if coverage is None or coverage.n_cells == 0 or not coverage.sources:
            where = ", ".join(self.state.roots) or "this folder"
            self._show_empty(EMPTY_TEXT.format(where=html.escape(where)))
            self.legend_box.setVisible(coverage is None)
            self.info.setText("No cells found." if coverage is not None else
                              "Open an experiment folder to see its coverage.")
            return
        self.pages.setCurrentIndex(0)
        self.legend_box.setVisible(True)
        n, m = coverage.codes.shape
        if not same_cells:
            self.cell_axis.set_keys(coverage.keys, coverage.recorded)
            self.source_axis.set_names(coverage.sources)
            # columns at least as wide as a line of text, so the turned source names never
            # run into each other (the docks beside give way)
            column_px = self.fontMetrics().height() + 4
            axis_px = getattr(self.cell_axis, "fixedWidth", None) or self.cell_axis.width()
            self.graphics.setMinimumWidth(int(axis_px + m * column_px + 16))
            bounds = self.cell_axis.group_bounds(1)
            self.separators.setData(np.tile([0.0, float(m)], len(bounds)), np.repeat(bounds, 2))
            xs = np.arange(1, m, dtype=float)
            self.columns.setData(np.repeat(xs, 2), np.tile([0.0, float(n)], len(xs)))
            self.view_box.setLimits(xMin=0, xMax=m, yMin=0, yMax=n, minXRange=m, maxXRange=m,
                                    minYRange=min(n, 3), maxYRange=n)
            self._factor = 0
            self.view_box.setRange(xRange=(0, m), yRange=(0, n), padding=0)
        self._draw_image(force=True)
        self._update_separators()
        self._update_legend()
        self._show_selection()
        if not same_cells:
            unrecorded = int((~coverage.recorded).sum()) if coverage.recorded is not None else 0
            notes = [f"{unrecorded} expected but never recorded"] if unrecorded else []
            if n < self.full.n_cells:
                notes.append(f"{self.full.n_cells - n} left out by the filters are hidden")
            extra = f" ({'; '.join(notes)})" if notes else ""
            self.info.setText(f"{n} cells{extra} x {m} sources. Hover for details, click to plot "
                              "a cell, right-click to say what a task should have; wheel scrolls, "
                              "Ctrl+wheel zooms.")

    def _show_nothing_kept(self) -> None:
        """Excluded cells hidden and the filters keep none: say so, keep the legend."""
        self._show_empty("<p><b>No cell passes the filters.</b></p><p>Change the filters, "
                         "or untick <i>Hide excluded cells</i> to see every cell.</p>")
        self.legend_box.setVisible(True)
        self.info.setText(f"0 of {self.full.n_cells} cells pass the filters.")

    def _show_empty(self, text: str) -> None:
        """Nothing drawn; ``text`` (rich text) where the grid was."""
        self.image.clear()
        self.separators.setData([], [])
        self.columns.setData([], [])
        self.cell_axis.set_keys([])
        self.source_axis.set_names([])
        self.highlight.hide()
        self._update_legend()
        self.empty.setText(text)
        self.pages.setCurrentWidget(self.empty)

    def _draw_image(self, force: bool = False) -> None:
        coverage = self.coverage
        if coverage is None or not coverage.n_cells:
            return
        m = coverage.codes.shape[1]
        (_, _), (y0, y1) = self.view_box.viewRange()
        height = max(1.0, self.view_box.height())
        factor = max(1, math.ceil((y1 - y0) / height))
        if not force and factor == self._factor:
            return
        self._factor = factor
        reduced = cov.block_worst(coverage.codes, factor)
        self.image.setImage(self._lut[reduced], levels=(0, 255), autoLevels=False)
        self.image.setRect(QRectF(0, 0, m, reduced.shape[0] * factor))

    def _update_separators(self) -> None:
        """Subject separator lines only where subjects are a few pixels tall (else they are noise)."""
        if self.coverage is None or not self.coverage.n_cells:
            return
        bounds = self.cell_axis.group_bounds(1)
        (_, _), (y0, y1) = self.view_box.viewRange()
        px_per_row = max(1.0, self.view_box.height()) / max(1e-9, y1 - y0)
        groups = len(bounds) + 1
        self.separators.setVisible(px_per_row * self.coverage.n_cells / groups >= 6)

    def _update_legend(self) -> None:
        counts = {code: 0 for code in LEGEND_ORDER}
        if self.full is not None and self.full.codes.size:
            values, numbers = np.unique(self.full.codes, return_counts=True)
            counts.update({int(v): int(c) for v, c in zip(values, numbers)})
        for code, label in self.legend_labels.items():
            label.setText(f"{cov.LABELS[code]} ({counts[code]})")
        # the flow layout keeps the old label widths until it is laid out again: a longer
        # count would be cut off ("validated ok (54"), so lay it out now
        for label in self.legend_labels.values():
            label.parentWidget().layout().activate()
        layout = self.legend_box.layout()
        layout.invalidate()
        layout.activate()

    def source_counts(self):
        """Per-source counts of what is drawn (for tests and the status line)."""
        return self.coverage.source_counts() if self.coverage is not None else None

    # view -------------------------------------------------------------------------

    def fit_all(self) -> None:
        if self.coverage is not None and self.coverage.n_cells:
            self.view_box.setRange(yRange=(0, self.coverage.n_cells), padding=0)

    def zoom(self, factor: float) -> None:
        self.view_box.scaleBy(y=factor)

    def scroll_to_row(self, row: int) -> None:
        (_, _), (y0, y1) = self.view_box.viewRange()
        if y0 <= row and row + 1 <= y1:
            return
        span = y1 - y0
        top = min(max(0.0, row + 0.5 - span / 2), max(0.0, self.coverage.n_cells - span))
        self.view_box.setRange(yRange=(top, top + span), padding=0)

    def _range_changed(self, *args) -> None:
        self._draw_image()
        self._update_separators()
        if self.coverage is None or self._syncing:
            return
        (_, _), (y0, y1) = self.view_box.viewRange()
        n = self.coverage.n_cells
        span = max(1, round(y1 - y0))
        self._syncing = True
        self.scrollbar.setRange(0, max(0, n - span))
        self.scrollbar.setPageStep(span)
        self.scrollbar.setSingleStep(max(1, span // 10))
        self.scrollbar.setValue(round(y0))
        self._syncing = False

    def _scrolled(self, value: int) -> None:
        if self._syncing or self.coverage is None:
            return
        (_, _), (y0, y1) = self.view_box.viewRange()
        self._syncing = True
        self.view_box.setRange(yRange=(value, value + (y1 - y0)), padding=0)
        self._syncing = False

    def keyPressEvent(self, event):
        if event.key() in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(0.5)
        elif event.key() == Qt.Key.Key_Minus:
            self.zoom(2.0)
        else:
            super().keyPressEvent(event)

    # mouse ------------------------------------------------------------------------

    def cell_at(self, scene_pos) -> tuple[int, int] | None:
        """(row, column) under a scene position, or None."""
        if self.coverage is None or not self.coverage.n_cells:
            return None
        if not self.view_box.sceneBoundingRect().contains(scene_pos):
            return None
        point = self.view_box.mapSceneToView(scene_pos)
        row, col = int(np.floor(point.y())), int(np.floor(point.x()))
        n, m = self.coverage.codes.shape
        if 0 <= row < n and 0 <= col < m:
            return row, col
        return None

    def describe(self, row: int, col: int) -> str:
        info = self.coverage.status_at(row, col)
        cell = cov.cell_label(info["cell"]) + ("" if info["recorded"] else " (never recorded)")
        lines = [f"{cell}  —  {info['source']}: {info['status']}"]
        if info["path"]:
            lines.append(f"{info['path']}  ({human_size(self.state.sizes.get(info['path']))})")
        elif info["why"] is not None:
            lines.append(why_text(*info["why"], info["source"]))
        elif info["code"] == cov.NOT_EXPECTED:
            lines.append("no file, and no rule expects one here")
        if info["message"]:
            prefix = f"{info['error_type']}: " if info["error_type"] else ""
            lines.append(prefix + str(info["message"]))
        return "\n".join(lines)

    def _hovered(self, args) -> None:
        hit = self.cell_at(args[0])
        if hit is None:
            return
        text = self.describe(*hit)
        self.info.setText(text.replace("\n", "   |   "))
        QToolTip.showText(QCursor.pos(), text, self.graphics)

    def _clicked(self, event) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            menu = self.menu_at(event.scenePos())
            if menu is not None:
                menu.exec(QCursor.pos())
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        hit = self.cell_at(event.scenePos())
        if hit is None:
            return
        row, col = hit
        key = tuple(map(str, self.coverage.index[row]))
        source = self.coverage.sources[col]
        self.cell_clicked.emit(key, source)
        self.state.select_cell(key, source)

    def _show_selection(self) -> None:
        key = self.state.selection
        if self.coverage is None or key is None:
            self.highlight.hide()
            return
        row = self.coverage.row_of(key)
        if row < 0:
            self.highlight.hide()
            return
        m = len(self.coverage.sources)
        self.highlight.setRect(QRectF(0, row, m, 1))
        self.highlight.show()
        self.scroll_to_row(row)

    # saying what should exist ------------------------------------------------------

    def column_at(self, scene_pos) -> int | None:
        """The source column under a point of the top axis, or None."""
        if self.coverage is None or not self.source_axis.sceneBoundingRect().contains(scene_pos):
            return None
        col = int(np.floor(self.view_box.mapSceneToView(scene_pos).x()))
        return col if 0 <= col < len(self.coverage.sources) else None

    def menu_at(self, scene_pos) -> QMenu | None:
        hit = self.cell_at(scene_pos)
        if hit is not None:
            return self.expectation_menu(hit[1], row=hit[0])
        col = self.column_at(scene_pos)
        return None if col is None else self.expectation_menu(col)

    def _task_keys(self, row: int | None) -> list[str]:
        """The protocol keys a menu offers: the row's task, or every task for a column."""
        index = self.full.index     # a column's menu offers the hidden cells' tasks too
        if index.nlevels < 3:
            return ["*"]
        if row is not None:
            return [str(self.coverage.index[row][2])]
        return sorted(set(index.get_level_values(2).astype(str)))

    def expectation_menu(self, col: int, row: int | None = None) -> QMenu:
        """'Expected in task-X' / 'Not expected in task-X' for a source (and a cell's task)."""
        source = self.coverage.sources[col]
        menu = QMenu(self)
        menu.setObjectName("expectationMenu")
        menu.setToolTipsVisible(True)
        title = menu.addAction(f"{source}: what should exist")
        title.setEnabled(False)
        expected = self._expected_shares(col)
        for task in self._task_keys(row):
            where = "every session" if task == "*" else task
            share = expected.get(task)
            group = QActionGroup(menu)       # one choice per task: drawn as radio buttons
            group.setExclusive(True)
            menu.addSeparator()
            for wanted in (True, False):
                text = f"{'Expected' if wanted else 'Not expected'} in {where}"
                action = menu.addAction(text)
                action.setCheckable(True)
                group.addAction(action)
                action.setChecked(share is not None and (share >= 0.5) == wanted)
                action.setToolTip(f"Declare in the protocol (datakit.toml) that {source} is "
                                  f"{'' if wanted else 'not '}recorded in {where}; "
                                  "File > Save Protocol writes it")
                action.triggered.connect(
                    lambda _checked=False, t=task, w=wanted: self.expectation_requested.emit(t, source, w))
        return menu

    def _expected_shares(self, col: int) -> dict:
        """Per task key: the share of its cells where the source is expected now."""
        coverage = self.coverage
        source = coverage.sources[col]
        dataset = coverage.dataset
        if dataset is None:
            return {}
        table = dataset.expected()
        if source not in table.columns:
            return {}
        flags = table[source].notna()
        if table.index.nlevels < 3:
            return {"*": float(flags.mean()) if len(flags) else 0.0}
        return flags.groupby(level=2).mean().to_dict()
