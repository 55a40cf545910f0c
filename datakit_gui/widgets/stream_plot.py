"""The stream plot: one cell's streams in lanes on one shared time axis.

The feature list (left) holds the cell's signals, ticked, and every other numeric
feature, unticked, under a collapsed "more features" group.  The plot (right) has one
lane per signal group (``lanes.plan``): curves sharing a unit, an ROI x time image, a
frame-health track, a source's spans, the notes.  Lanes share a linked x axis and equal
left-axis widths; the time axis names the clocks drawn.  Ticking a feature shows or
hides its existing item (a lane is built the first time one of its features is ticked),
so toggles never rebuild the plot and keep the zoom.  Export: PNG of the figure, CSV of
the shown curves' samples in view.
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QGraphicsScene,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from datakit.formats import plural

from .. import dialogs, look
from ..coverage import cell_label
from ..lanes import Lane, plan, time_axis_label
from ..models.feature_model import FeatureModel
from ..streams import (
    CellStreams,
    Curve,
    FrameHealth,
    Markers,
    RoiImage,
    Spans,
    value_at,
    visible_frame,
)
from . import lane_items as li

SHADED_INTERVALS = ("psychopy",)   # interval sources also shaded behind every signal lane
POOL_SIZE = 24                     # lane plots kept for reuse between cells
SELECT_HINT = "Select a cell (tree, heatmap or report) to plot its streams."
NO_RECORDINGS = (
    "<p><b>Nothing to plot: no recordings found in {roots}.</b></p>"
    "<p>The plot shows one recording (subject, session, task) of an experiment folder whose "
    "<code>data/</code> holds files like <code>data/sub-&lt;subject&gt;/ses-&lt;session&gt;/beh/"
    "&lt;stamp&gt;_sub-&lt;subject&gt;_ses-&lt;session&gt;_task-&lt;task&gt;_&lt;suffix&gt;.csv</code>."
    "</p>")

NOT_RECORDED = (
    "<p><b>{cell} was never recorded: nothing to plot.</b></p>"
    "<p>No file of this recording exists, yet {why}, so the coverage view shows its "
    "{sources} as missing.</p>")
WHY_EXPECTED = {
    "declared": "the protocol (<code>datakit.toml</code>, <code>[sessions] tasks</code>) says "
                "every session has this task",
    "manifest": "<code>manifest.json</code> lists files of it",
}


class _LaneView:
    """A built lane: its PlotItem and the graphics items of each drawable."""

    def __init__(self, lane: Lane, plot: pg.PlotItem, height: int):
        self.lane = lane
        self.plot = plot
        self.height = height
        self.items: dict[tuple, list] = {}      # drawable key -> graphics items
        self.crosshair: pg.InfiniteLine | None = None


class StreamPlot(QWidget):
    exported = Signal(str)   # path written

    def __init__(self, state, jobs, parent=None):
        super().__init__(parent)
        self.setObjectName("streamPlot")
        self.state = state
        self.jobs = jobs
        self.streams: CellStreams | None = None
        self._lanes: list[Lane] = []
        self._views: dict[tuple, _LaneView] = {}
        self._lane_of: dict[tuple, Lane] = {}
        self._followers: dict[tuple, list] = {}   # drawable key -> decorations in other lanes
        self._colors: dict[tuple, tuple] = {}
        self._master: pg.PlotItem | None = None
        self._pool: list[pg.PlotItem] = []       # emptied lane plots, reused by the next cell

        self.title = QLabel("")
        self.title.setObjectName("streamPlotTitle")
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.png_button = QPushButton("Export PNG…")
        self.csv_button = QPushButton("Export CSV…")
        self.reset_button = QPushButton("Reset zoom")
        self.png_button.setToolTip("Save the figure as a PNG image")
        self.csv_button.setToolTip("Save the samples of the shown curves within the visible time range")
        self.reset_button.setToolTip("Show the whole recording (wheel: zoom time; drag: pan)")
        for button in (self.png_button, self.csv_button, self.reset_button):
            button.setEnabled(False)
        self.png_button.clicked.connect(lambda: self.export_png())
        self.csv_button.clicked.connect(lambda: self.export_csv())
        self.reset_button.clicked.connect(self.reset_zoom)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.reset_button)
        top.addWidget(self.png_button)
        top.addWidget(self.csv_button)

        self.readout = QLabel(" ")
        self.readout.setObjectName("streamReadout")
        self.readout.setWordWrap(True)
        self.readout.setTextFormat(Qt.TextFormat.RichText)

        self.features = FeatureModel(self)
        self.features.checks_changed.connect(self._toggled)
        self.feature_view = QTreeView()
        self.feature_view.setObjectName("streamFeatures")
        self.feature_view.setModel(self.features)
        self.feature_view.setHeaderHidden(True)
        self.feature_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.feature_view.setUniformRowHeights(True)
        self.feature_view.setIndentation(12)
        self.feature_view.setIconSize(QSize(10, 10))
        self.feature_view.setToolTip("Ticked features are drawn; the chip is the curve's colour")
        self.feature_view.hide()                 # shown with the first cell

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("streamPlotView")
        # lanes come and go with every cell: a plain item list, not a BSP index, is both
        # fast enough for a few hundred items and immune to stale index entries
        self.graphics.scene().setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.graphics.ci.layout.setVerticalSpacing(3)
        self.graphics.ci.setContentsMargins(2, 4, 10, 2)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.graphics)
        self.message = QLabel(SELECT_HINT)
        self.message.setObjectName("streamPlotMessage")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        self.message.setMargin(24)
        self.view_stack = QStackedWidget()
        self.view_stack.addWidget(self.message)
        self.view_stack.addWidget(self.scroll)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.feature_view)
        splitter.addWidget(self.view_stack)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([215, 680])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.readout)
        layout.addWidget(splitter, 1)

        self._mouse_proxy = pg.SignalProxy(self.graphics.scene().sigMouseMoved, rateLimit=60,
                                           slot=self._mouse_moved)
        state.cell_loaded.connect(self._cell_loaded)
        state.cell_loading.connect(self._cell_loading)
        state.dataset_changed.connect(self._dataset_changed)

    # what is shown (for tests and scripts) -------------------------------------------

    def shown_features(self) -> list[tuple[str, str]]:
        """The ``(source, feature)`` pairs drawn now, top lane first."""
        checked = set(self.features.checked())
        return [key for view in self._visible_views() for key in view.items if key in checked]

    def lanes(self) -> list[tuple[str, str]]:
        """``(title, y_label)`` of each lane shown, top to bottom."""
        return [(view.lane.title(), view.lane.y_label) for view in self._visible_views()]

    def _visible_views(self) -> list[_LaneView]:
        checked = set(self.features.checked())
        return [view for lane in self._lanes if (view := self._views.get(lane.key)) is not None
                and any(key in checked for key in view.items)]

    @property
    def plots(self) -> list[pg.PlotItem]:
        """The PlotItems of the lanes shown, top to bottom."""
        return [view.plot for view in self._visible_views()]

    @property
    def items(self) -> list[tuple[pg.PlotDataItem, Curve]]:
        """(graphics item, Curve) of every curve shown."""
        checked = set(self.features.checked())
        return [(view.items[c.key][0], c) for view in self._visible_views() for c in view.lane.items
                if isinstance(c, Curve) and c.key in checked]

    def curve_items(self) -> list[pg.PlotDataItem]:
        return [item for item, _ in self.items]

    def plot_item_count(self) -> int:
        """Graphics items in every lane built so far (shown or hidden)."""
        return sum(len(view.plot.items) for view in self._views.values())

    # content ----------------------------------------------------------------------

    def _cell_loading(self, key) -> None:
        self.title.setText(f"Loading {html.escape(cell_label(key))}…")

    def _cell_loaded(self) -> None:
        self.set_streams(self.state.cell_streams)
        key = self.state.cell_key
        if self.state.cell_streams is None and key is not None and self._never_recorded(key):
            self._show_message(self._not_recorded_text(key))

    def _never_recorded(self, key) -> bool:
        coverage = self.state.coverage
        row = coverage.row_of(key) if coverage is not None else -1
        return row >= 0 and coverage.recorded is not None and not coverage.recorded[row]

    def _not_recorded_text(self, key) -> str:
        missing = self.state.dataset.missing()
        mine = missing[(missing[["Subject", "Session", "Task"][:len(key)]].astype(str)
                        == list(key)).all(axis=1)]
        reasons = list(dict.fromkeys(mine["reason"]))
        why = " and ".join(WHY_EXPECTED.get(r, f"it is expected ({r})") for r in reasons) \
            or "it is expected"
        return NOT_RECORDED.format(cell=html.escape(cell_label(key)), why=why,
                                   sources=plural(len(mine), "source"))

    def _dataset_changed(self) -> None:
        dataset = self.state.dataset
        if dataset is not None and len(dataset) == 0:
            self.set_streams(None)
            roots = ", ".join(html.escape(str(r)) for r in self.state.roots) or "this folder"
            self._show_message(NO_RECORDINGS.format(roots=roots))
            self.title.setText("")
        elif self.streams is None:
            self._show_message(SELECT_HINT)
            self.title.setText("")

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.view_stack.setCurrentWidget(self.message)
        self.feature_view.setVisible(self.features.rowCount() > 0)

    def set_streams(self, streams: CellStreams | None) -> None:
        """Draw a cell: its signal lanes are built now, the extras' lanes when ticked."""
        for view in self._views.values():
            self.graphics.ci.removeItem(view.plot)
            li.release_plot(view.plot)
            if len(self._pool) < POOL_SIZE:
                self._pool.append(view.plot)
        self.graphics.clear()
        self._views, self._lane_of, self._followers, self._colors = {}, {}, {}, {}
        self._master = None
        self.streams = streams
        self._lanes = plan(streams) if streams is not None else []
        for button in (self.png_button, self.csv_button, self.reset_button):
            button.setEnabled(streams is not None)
        self.readout.setText(" ")
        if streams is None:
            self.features.set_items([])
            self.title.setText("")
            self._show_message(SELECT_HINT)
            return
        for lane in self._lanes:
            for item in lane.items:
                self._lane_of[item.key] = lane
        self._assign_colors()
        self.features.set_items([self._entry(i) for lane in self._lanes for i in lane.items if i.signal],
                                [self._entry(i) for lane in self._lanes for i in lane.items if not i.signal])
        for lane in self._lanes:
            if lane.signal:
                self._build(lane)
        self._refresh()
        self.reset_zoom()

    def _assign_colors(self) -> None:
        ordered = [i for lane in self._lanes for i in lane.items if i.signal] + \
                  [i for lane in self._lanes for i in lane.items if not i.signal]
        curves = [i for i in ordered if isinstance(i, Curve)]
        self._colors = {c.key: look.color(k) for k, c in enumerate(curves)}

    def _entry(self, item) -> tuple:
        n = len(item.t) if hasattr(item, "t") else getattr(item, "n_samples", 0)
        label = f"{item.source} · {item.label}" if item.signal else item.feature
        rois = f", {len(item.rois)} ROIs" if isinstance(item, RoiImage) else ""
        what = "a declared signal" if item.signal else "not a declared signal"
        unit = f" [{item.unit}]" if item.unit else ""
        count = f"{sum(len(t.starts) for t in item.tracks)} intervals" if isinstance(item, Spans) \
            else f"{n:,} samples"
        tip = f"{item.source}.{item.feature}: {item.label}{unit} — {count}{rois}, {what}"
        return item.key, label, tip, self._colors.get(item.key)

    # lanes ------------------------------------------------------------------------

    def _build(self, lane: Lane) -> _LaneView:
        first = lane.items[0]
        checked = set(self.features.checked())
        if lane.kind == "rois":
            height = li.roi_height(first)
        elif lane.kind == "frames":
            height = li.health_height()
        elif lane.kind == "spans":
            height = li.spans_height(first)
        elif lane.kind == "markers":
            height = li.markers_height()
        else:
            height = li.CURVE_HEIGHT
        if self._pool:
            plot = self._pool.pop()
            li.reset_plot(plot, height, stretch=lane.kind == "curve")
        else:
            plot = li.make_plot(height, stretch=lane.kind == "curve")
        self.graphics.ci.addItem(plot, row=self._lanes.index(lane), col=0)
        view = _LaneView(lane, plot, height)
        if lane.kind == "curve":
            for curve in lane.items:
                item = li.curve_item(curve, self._colors[curve.key])
                view.items[curve.key] = [item]
        elif lane.kind == "rois":
            view.items[first.key] = [li.roi_item(plot, first, height)]
        elif lane.kind == "frames":
            view.items[first.key] = li.health_items(plot, first)
        elif lane.kind == "spans":
            view.items[first.key] = li.span_items(plot, first)
        elif lane.kind == "markers":
            view.items[first.key] = li.marker_items(plot, first)
        for key, graphics in view.items.items():
            for item in graphics:
                plot.addItem(item)     # the plot applies clip-to-view and peak downsampling
                item.setVisible(key in checked)
        self._decorate(view, checked)
        li.set_title(plot, lane.title(), bold=lane.source == self.state.selected_source)
        li.set_y_label(plot, lane.y_label, first.unit, height)
        line = pg.InfiniteLine(angle=90, movable=False,
                               pen=pg.mkPen(*look.MUTED, 160, style=Qt.PenStyle.DashLine))
        line.hide()
        plot.addItem(line, ignoreBounds=True)
        view.crosshair = line
        if self._master is None:
            self._master = plot
        else:
            plot.setXLink(self._master)
        self._views[lane.key] = view
        return view

    def _decorate(self, view: _LaneView, checked: set) -> None:
        """The experiment window, note lines and trial shading behind the lane's data."""
        streams, plot, kind = self.streams, view.plot, view.lane.kind
        if streams.window is not None:
            plot.addItem(li.window_region(streams.window), ignoreBounds=True)
        if kind == "markers":
            return
        for item in streams.items:
            extra = []
            if isinstance(item, Markers):
                extra = [li.note_line(t, text) for t, text in zip(item.t, item.texts)]
            elif isinstance(item, Spans) and item.source in SHADED_INTERVALS and kind in ("curve", "rois"):
                extra = [li.trial_shading(item)]
            for decoration in extra:
                decoration.setVisible(item.key in checked)
                plot.addItem(decoration, ignoreBounds=True)
            if extra:
                self._followers.setdefault(item.key, []).extend(extra)

    def _toggled(self, keys) -> None:
        checked = set(self.features.checked())
        for key in keys:
            lane = self._lane_of.get(tuple(key))
            if lane is None:
                continue
            view = self._views.get(lane.key)
            if view is None:
                self._build(lane)      # first tick of a feature in this lane
            else:
                for item in view.items.get(tuple(key), ()):
                    item.setVisible(tuple(key) in checked)
            for decoration in self._followers.get(tuple(key), ()):
                decoration.setVisible(tuple(key) in checked)
        self._refresh()

    def _refresh(self) -> None:
        """Lane visibility, the time axis under the last lane, sizes and the summary."""
        visible = self._visible_views()
        shown = set(map(id, visible))
        for view in self._views.values():
            view.plot.setVisible(id(view) in shown)
            view.plot.showAxis("bottom", False)
            li.set_height(view.plot, view.height, stretch=view.lane.kind == "curve")
        checked = set(self.features.checked())
        if visible:
            last = visible[-1].plot
            last.showAxis("bottom", True)       # the time axis, under the last lane only
            li.set_height(last, visible[-1].height + li.BOTTOM_AXIS_HEIGHT,
                          stretch=visible[-1].lane.kind == "curve")
            bases = {i.basis for v in visible for i in v.lane.items if i.key in checked}
            last.setLabel("bottom", time_axis_label(bases), **{"font-size": li.LABEL_SIZE})
            self.view_stack.setCurrentWidget(self.scroll)
            self.feature_view.setVisible(True)
        elif self.streams is not None:
            self._show_message(self._nothing_text())
        height = sum(v.height for v in visible) + (li.BOTTOM_AXIS_HEIGHT if visible else 0)
        self.graphics.setMinimumHeight(height + 3 * len(visible) + 8)
        if self.streams is not None:
            self.title.setText(self._summary(visible))

    def _nothing_text(self) -> str:
        s = self.streams
        what = f"<b>Nothing to plot for {html.escape(cell_label(s.key))}.</b>"
        if self._lanes:
            return what + "<p>No feature is ticked: tick one in the list.</p>"
        parts = []
        if s.tables:
            parts.append("its sources hold only tables (" + html.escape(", ".join(s.tables)) + ")")
        if s.failed:
            parts.append("failed to load: " + html.escape(", ".join(s.failed)))
        return what + ("<p>" + "; ".join(parts) + ".</p>" if parts else "<p>It has no time series.</p>")

    def _summary(self, visible) -> str:
        s = self.streams
        n_signals = len(s.signals)
        parts = [f"<b>{html.escape(cell_label(s.key))}</b>: {len(visible)} lanes",
                 f"{n_signals} signal{'s' * (n_signals != 1)}"]
        if s.extras:
            parts.append(f"{len(s.extras)} more feature{'s' * (len(s.extras) != 1)} in the list")
        legend = []
        if s.window is not None:
            legend.append("<span style='color:#00795a'>green band: experiment window</span>")
        if any(isinstance(i, Spans) and i.source in SHADED_INTERVALS and i.key in self.features.checked()
               for i in s.items):
            legend.append("<span style='color:#a8507e'>pink: psychopy trials</span>")
        if s.failed:
            legend.append(f"<span style='color:{look.hex_color(look.WARNING)}'>failed: "
                          + html.escape(", ".join(s.failed)) + "</span>")
        return ", ".join(parts) + ("; " + "; ".join(legend) if legend else "")

    # interaction ------------------------------------------------------------------

    def _extent(self) -> tuple[float, float] | None:
        checked = set(self.features.checked())
        lows, highs = [], []
        for view in self._visible_views():
            for item in view.lane.items:
                if item.key not in checked:
                    continue
                if isinstance(item, RoiImage):
                    lo, hi = item.extent
                elif isinstance(item, Spans):
                    starts = [t.starts.min() for t in item.tracks if len(t.starts)]
                    stops = [t.stops.max() for t in item.tracks if len(t.stops)]
                    if not starts:
                        continue
                    lo, hi = min(starts), max(stops)
                elif len(item.t):
                    lo, hi = item.t[0], item.t[-1]
                else:
                    continue
                lows.append(float(lo))
                highs.append(float(hi))
        if not lows:
            return None
        lo, hi = min(lows), max(highs)
        return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)

    def reset_zoom(self) -> None:
        """The whole of every shown stream in view."""
        extent = self._extent()
        if self._master is not None and extent is not None:
            pad = 0.01 * (extent[1] - extent[0])
            self._master.setXRange(extent[0] - pad, extent[1] + pad, padding=0)

    def visible_range(self) -> tuple[float, float] | None:
        if self._master is None:
            return None
        (x0, x1), _ = self._master.viewRange()
        return float(x0), float(x1)

    def readout_at(self, x: float) -> list[tuple[str, float | None]]:
        return [(curve.name, value_at(curve, x)) for _, curve in self.items]

    def _mouse_moved(self, args) -> None:
        pos = args[0]
        visible = self._visible_views()
        for view in visible:
            if view.plot.sceneBoundingRect().contains(pos):
                point = view.plot.vb.mapSceneToView(pos)
                break
        else:
            return
        x = point.x()
        for v in visible:
            v.crosshair.setPos(x)
            v.crosshair.show()
        cells = [f"<b>t = {x:.3f} s</b>"]
        for (item, curve), (_, value) in zip(self.items, self.readout_at(x)):
            text = "—" if value is None else f"{value:.4g}"
            color = look.hex_color(self._colors.get(curve.key, look.INK))
            cells.append(f"<span style='color:{color}'>{html.escape(curve.name)}</span> = {text}")
        cells.extend(self._lane_readout(view, x, point.y()))
        self.readout.setText("&nbsp;&nbsp; ".join(cells))

    @staticmethod
    def _lane_readout(view: _LaneView, x: float, y: float) -> list[str]:
        """What the cursor points at in a lane that is not a curve."""
        item = view.lane.items[0]
        if isinstance(item, RoiImage) and 0 <= y < len(item.rois):
            value = item.value_at(int(y), x)
            return [f"{html.escape(item.source)} {html.escape(item.rois[int(y)])} = "
                    + ("—" if value is None else f"{value:.4g}")]
        if isinstance(item, Spans):
            hits = [t.label for t in item.tracks if np.any((t.starts <= x) & (x <= t.stops))]
            return [f"{html.escape(item.source)}: " + html.escape(", ".join(hits) or "—")]
        if isinstance(item, FrameHealth) and len(item.interval_ms):
            i = int(np.clip(np.searchsorted(item.t, x) - 1, 0, len(item.interval_ms) - 1))
            return [f"{html.escape(item.source)} frame interval = {item.interval_ms[i]:.1f} ms"]
        return []

    # export -----------------------------------------------------------------------

    def _default_name(self, suffix: str) -> str:
        key = self.streams.key if self.streams else ("plot",)
        folder = self.state.roots[0] if self.state.roots else str(Path.home())
        return str(Path(folder) / ("_".join(key) + suffix))

    def export_png(self, path: str | None = None) -> None:
        if self.streams is None:
            return
        path = path or dialogs.ask_export_path(self, "Export figure", self._default_name(".png"),
                                               "PNG image (*.png)")
        if not path:
            return
        image = self.graphics.grab().toImage()

        def save(ctx):
            if not image.save(path, "PNG"):
                raise OSError(f"could not write {path}: check the folder exists and is writable")
            return path

        self.jobs.submit(f"Export {Path(path).name}", save, lane="export-" + Path(path).suffix,
                         on_result=self.exported.emit,
                         on_error=lambda e, tb: self._export_failed(e, tb))

    def export_csv(self, path: str | None = None) -> None:
        if self.streams is None or not self.items:
            return
        path = path or dialogs.ask_export_path(self, "Export visible data", self._default_name(".csv"),
                                               "CSV (*.csv)")
        if not path:
            return
        x0, x1 = self.visible_range()
        curves = [curve for _, curve in self.items]

        def save(ctx):
            visible_frame(curves, x0, x1).to_csv(path, index=False)
            return path

        self.jobs.submit(f"Export {Path(path).name}", save, lane="export-" + Path(path).suffix,
                         on_result=self.exported.emit,
                         on_error=lambda e, tb: self._export_failed(e, tb))

    def _export_failed(self, exc: BaseException, tb: str) -> None:
        notifier = getattr(self.window(), "notifier", None)
        if notifier is not None:        # the app's one route for errors
            notifier.error("Export failed", str(exc), tb)
        else:                           # a plot outside the main window
            dialogs.show_error(self, "Export failed", str(exc), tb)
