"""The stream plot: one cell's streams stacked on the master timeline.

One PlotItem per source with a numeric stream (its features as curves, choosable in the
list on the left), one track plot per interval source (psychopy trials, timestamps),
psychopy trials also shaded behind every curve, notes as vertical markers, the
experiment window shaded, a crosshair that reads every
curve's value at the cursor.  X axes are linked; long curves are clipped to the view and
peak-downsampled.  Export: PNG of the figure, CSV of the samples in view.
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from .. import dialogs
from ..coverage import cell_label
from ..models.check_model import CheckListModel
from ..streams import CellStreams, value_at, visible_frame
from .interval_shading import IntervalShading

PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
WINDOW_BRUSH = (120, 200, 120, 45)
SHADED_INTERVALS = ("psychopy",)   # interval sources also shaded behind every curve
MAX_LEGEND = 5          # more curves than this: the coloured feature list is the legend
PLOT_MIN_HEIGHT = 110   # px per stream plot; more plots than fit scroll
TIME_LABEL = "time on the master clock (s)"


def _short(text: str, n: int = 28) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


class StreamPlot(QWidget):
    exported = Signal(str)   # path written

    def __init__(self, state, jobs, parent=None):
        super().__init__(parent)
        self.setObjectName("streamPlot")
        self.state = state
        self.jobs = jobs
        self.streams: CellStreams | None = None
        self.plots: list[pg.PlotItem] = []
        self.items: list[tuple[pg.PlotDataItem, object]] = []   # (item, Curve)
        self.crosshairs: list[pg.InfiniteLine] = []
        self._drawn_key = None

        self.title = QLabel("Select a cell (tree, heatmap or report) to plot its streams.")
        self.title.setObjectName("streamPlotTitle")
        self.title.setWordWrap(True)
        self.png_button = QPushButton("Export PNG…")
        self.csv_button = QPushButton("Export CSV…")
        self.reset_button = QPushButton("Reset zoom")
        self.png_button.setToolTip("Save the figure as a PNG image")
        self.csv_button.setToolTip("Save the samples of the shown curves within the visible time range")
        for button in (self.png_button, self.csv_button, self.reset_button):
            button.setEnabled(False)
        self.normalize = QCheckBox("Scale 0–1")
        self.normalize.setObjectName("streamNormalize")
        self.normalize.setToolTip("Draw each curve scaled to its own 0–1 range, so curves of very "
                                  "different units share a plot (the readout stays in real units)")
        self.normalize.toggled.connect(self._redraw)
        self._scaled: dict[str, np.ndarray] = {}
        self.png_button.clicked.connect(self.export_png)
        self.csv_button.clicked.connect(self.export_csv)
        self.reset_button.clicked.connect(self.reset_zoom)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.normalize)
        top.addWidget(self.reset_button)
        top.addWidget(self.png_button)
        top.addWidget(self.csv_button)

        self.readout = QLabel(" ")
        self.readout.setObjectName("streamReadout")
        self.readout.setWordWrap(True)
        self.readout.setTextFormat(Qt.TextFormat.RichText)

        self.features = CheckListModel(self)
        self.features.checks_changed.connect(self._redraw)
        self.feature_view = QListView()
        self.feature_view.setObjectName("streamFeatures")
        self.feature_view.setModel(self.features)
        self.feature_view.setToolTip("Curves to draw (the colour is the curve's)")
        self.feature_view.setIconSize(QSize(10, 10))
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("streamPlotView")
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.graphics)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.feature_view)
        splitter.addWidget(self.scroll)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([150, 720])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.readout)
        layout.addWidget(splitter, 1)

        self._mouse_proxy = pg.SignalProxy(self.graphics.scene().sigMouseMoved, rateLimit=60,
                                           slot=self._mouse_moved)
        state.cell_loaded.connect(self._cell_loaded)
        state.cell_loading.connect(self._cell_loading)

    # content ----------------------------------------------------------------------

    def _cell_loading(self, key) -> None:
        self.title.setText(f"Loading {cell_label(key)}…")

    def _cell_loaded(self) -> None:
        self.set_streams(self.state.cell_streams)

    def set_streams(self, streams: CellStreams | None) -> None:
        self.streams = streams
        self._scaled = {}
        if streams is None:
            self.features.set_items([])
            self.title.setText("Select a cell (tree, heatmap or report) to plot its streams.")
        else:
            names = [c.name for c in streams.curves]
            labels = [f"{c.source} · {c.label}" for c in streams.curves]
            tips = [f"{c.source} · {c.label}: {len(c.t):,} samples" for c in streams.curves]
            colors = [self._color(i) for i in range(len(streams.curves))]
            self.features.set_items(names, names, labels, tips, colors)
        self._redraw()

    def _display_y(self, curve) -> np.ndarray:
        if not self.normalize.isChecked():
            return curve.y
        scaled = self._scaled.get(curve.name)
        if scaled is None:
            finite = curve.y[np.isfinite(curve.y)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            scaled = (curve.y - lo) / (hi - lo) if hi > lo else curve.y - lo
            self._scaled[curve.name] = scaled
        return scaled

    def _redraw(self) -> None:
        # a feature toggle keeps a zoom the user chose (auto-range off after panning/zooming)
        keep = self.visible_range() if self.plots and self.streams is not None \
            and self._drawn_key == self.streams.key \
            and not self.plots[0].vb.autoRangeEnabled()[0] else None
        self.graphics.clear()
        self.plots, self.items, self.crosshairs, self._heights = [], [], [], []
        streams = self.streams
        for button in (self.png_button, self.csv_button, self.reset_button):
            button.setEnabled(streams is not None)
        if streams is None:
            self.readout.setText(" ")
            return
        chosen = set(self.features.checked())
        row = 0
        for source in streams.curve_sources:
            curves = [c for c in streams.curves if c.source == source and c.name in chosen]
            if not curves:
                continue
            plot = self._add_plot(row, source)
            if 1 < len(curves) <= MAX_LEGEND:
                plot.addLegend(offset=(-4, 4), labelTextSize="8pt", brush=(255, 255, 255, 190))
            for curve in curves:
                color = self._color(streams.curves.index(curve))
                item = pg.PlotDataItem(curve.t, self._display_y(curve), pen=pg.mkPen(color, width=1),
                                       name=curve.label, skipFiniteCheck=True)
                plot.addItem(item)   # the plot applies clip-to-view and peak downsampling
                self.items.append((item, curve))
            row += 1
        for source, tracks in streams.tracks.items():
            plot = self._add_plot(row, source)
            self._draw_tracks(plot, source, tracks)
            row += 1
        self._decorate()
        self.graphics.setMinimumHeight(sum(self._heights) + 40 if self._heights else 0)
        self.title.setText(self._title_text())
        self._drawn_key = streams.key
        if keep is not None and self.plots:     # a feature toggle keeps the zoom
            self.plots[0].setXRange(*keep, padding=0)

    @staticmethod
    def _color(i: int) -> tuple:
        return PALETTE[i % len(PALETTE)]

    def _add_plot(self, row: int, source: str) -> pg.PlotItem:
        plot = self.graphics.addPlot(row=row, col=0)
        basis = self.streams.time_basis.get(source)
        selected = source == self.state.selected_source
        plot.setLabel("left", f"<b>{source}</b>" if selected else source,
                      **{"font-size": "9pt", "color": "#a33" if selected else "#282828"})
        plot.getAxis("left").setWidth(78)
        if basis not in (None, "master"):
            plot.setTitle(f"{source}: not on the master clock (time basis: {basis})",
                          size="8pt", color=(170, 90, 0))
        self._heights.append(PLOT_MIN_HEIGHT)
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
        plot.setMenuEnabled(False)
        if self.plots:
            plot.setXLink(self.plots[0])
        line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(80, 80, 80, 160, style=Qt.PenStyle.DashLine))
        line.hide()
        plot.addItem(line, ignoreBounds=True)
        self.crosshairs.append(line)
        self.plots.append(plot)
        return plot

    def _draw_tracks(self, plot: pg.PlotItem, source: str, tracks) -> None:
        """Intervals as filled bars, one row per track; the rows are named on the left axis."""
        ticks = []
        for k, track in enumerate(tracks):
            color = PALETTE[(k + 3) % len(PALETTE)]
            order = np.argsort(track.starts)
            starts, stops = track.starts[order], track.stops[order]
            x = np.column_stack([starts, starts, stops, stops]).ravel()
            y = np.tile([k, k + 0.8, k + 0.8, k], len(starts)).astype(float)
            item = pg.PlotCurveItem(x, y, pen=pg.mkPen(color, width=1), fillLevel=k,
                                    brush=pg.mkBrush(*color, 110))
            plot.addItem(item)
            label = track.label if len(tracks) > 1 else source
            ticks.append((k + 0.4, label))
        axis = plot.getAxis("left")
        axis.setTicks([ticks])
        axis.enableAutoSIPrefix(False)
        plot.setLabel("left", "")          # the row names say it; a rotated name would not fit
        if len(tracks) > 1:
            plot.setTitle(f"{source} intervals", size="8pt", color=(90, 90, 90))
        plot.setYRange(-0.1, len(tracks) - 0.1, padding=0)
        plot.setMouseEnabled(x=True, y=False)
        plot.showGrid(x=True, y=False)
        height = (40 if len(tracks) > 1 else 26) + 22 * len(tracks)
        plot.setMaximumHeight(height)
        plot.setPreferredHeight(height)
        self._heights[-1] = height

    def _decorate(self) -> None:
        streams = self.streams
        for i, plot in enumerate(self.plots):
            last = i == len(self.plots) - 1
            axis = plot.getAxis("bottom")
            axis.setStyle(showValues=last)
            if last:
                plot.setLabel("bottom", TIME_LABEL)
            if i < len(self.plots) - len(streams.tracks):      # curve plots: shade the trials
                for source in SHADED_INTERVALS:
                    for track in streams.tracks.get(source, ()):
                        plot.addItem(IntervalShading(track.starts, track.stops), ignoreBounds=True)
            if streams.window is not None:
                region = pg.LinearRegionItem(values=streams.window, movable=False,
                                             brush=pg.mkBrush(*WINDOW_BRUSH), pen=pg.mkPen(None))
                region.setZValue(-10)
                plot.addItem(region, ignoreBounds=True)
            for k, marker in enumerate(streams.markers):
                line = pg.InfiniteLine(   # labels on three heights so close notes stay readable
                    pos=marker.t, angle=90, movable=False,
                    pen=pg.mkPen(120, 60, 160, 220, width=1, style=Qt.PenStyle.DotLine),
                    label=_short(marker.text) if i == 0 else None,
                    labelOpts={"position": 0.95 - 0.17 * (k % 3), "color": (90, 40, 130),
                               "anchors": [(0, 0), (0, 0)], "fill": (255, 255, 255, 210)})
                line.setToolTip(f"note at {marker.t:.1f} s: {marker.text}")
                plot.addItem(line, ignoreBounds=True)

    def _title_text(self) -> str:
        s = self.streams
        parts = [(f"<b>{html.escape(cell_label(s.key))}</b>: {len(s.curves)} curves from "
                  f"{len(s.curve_sources)} sources")]
        if s.tracks:
            parts.append(f"{sum(len(t) for t in s.tracks.values())} interval tracks")
        if s.markers:
            parts.append(f"{len(s.markers)} notes (dotted lines)")
        if s.window is not None:
            parts.append("<span style='color:#3a7a3a'>green: experiment window</span>")
        if any(src in s.tracks for src in SHADED_INTERVALS):
            parts.append("<span style='color:#7a5aa8'>purple: psychopy trials</span>")
        if s.failed:
            parts.append("<span style='color:#c00'>failed: " + html.escape(", ".join(s.failed)) + "</span>")
        if not self.plots:
            parts.append("nothing to plot for this cell")
        return "; ".join(parts)

    # interaction ------------------------------------------------------------------

    def curve_items(self) -> list[pg.PlotDataItem]:
        return [item for item, _ in self.items]

    def reset_zoom(self) -> None:
        for plot in self.plots:
            plot.enableAutoRange()

    def visible_range(self) -> tuple[float, float] | None:
        if not self.plots:
            return None
        (x0, x1), _ = self.plots[0].viewRange()
        return float(x0), float(x1)

    def readout_at(self, x: float) -> list[tuple[str, float | None]]:
        return [(curve.name, value_at(curve, x)) for _, curve in self.items]

    def _mouse_moved(self, args) -> None:
        pos = args[0]
        for plot in self.plots:
            if plot.sceneBoundingRect().contains(pos):
                x = plot.vb.mapSceneToView(pos).x()
                break
        else:
            return
        for line in self.crosshairs:
            line.setPos(x)
            line.show()
        cells = [f"<b>t = {x:.3f} s</b>"]
        for (item, curve), (_, value) in zip(self.items, self.readout_at(x)):
            color = item.opts["pen"].color().name()
            text = "—" if value is None else f"{value:.4g}"
            cells.append(f"<span style='color:{color}'>{html.escape(curve.name)}</span> = {text}")
        self.readout.setText("&nbsp;&nbsp; ".join(cells))

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
                         on_error=lambda e, tb: dialogs.show_error(self, "Export failed", str(e), tb))

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
                         on_error=lambda e, tb: dialogs.show_error(self, "Export failed", str(e), tb))
