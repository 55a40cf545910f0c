"""The pyqtgraph pieces of a stream-plot lane: the lane's PlotItem and one graphics
item per kind of drawable (curve, ROI image, frame health, spans, markers).

Every lane has the same left-axis width, so the time axes of all lanes line up; no
legend or label is drawn inside a view box (colour chips live in the feature list,
notes show their text on hover, ROI and span names sit on the y axis).
"""
from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFontMetrics

from .. import look
from ..streams import Curve, FrameHealth, Markers, RoiImage, Spans
from .interval_shading import IntervalShading, SpanBars

AXIS_WIDTH = 78            # px, every lane's left axis (y label + tick values)
TITLE_HEIGHT = 17          # px, the lane title row
BOTTOM_AXIS_HEIGHT = 38    # px, the time axis under the last lane
CURVE_HEIGHT = 104         # px, a curve lane (it may grow ...
CURVE_MAX_HEIGHT = 240     # ... up to this, so one lane never fills a tall window)
ROW_HEIGHT = 15            # px, one row of spans
LABEL_SIZE = "8.5pt"


class CompactAxis(pg.AxisItem):
    """Tick values that fit the fixed axis width (``1.2e+06`` rather than ``1200000``),
    no SI-prefix rescaling of the label ("speed (x0.001)" misleads), and optionally
    named ticks (ROIs, span rows) elided to the width."""

    def __init__(self, orientation, **kwargs):
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)
        self.setStyle(tickFont=look.tick_font(), tickTextOffset=3)

    def tickStrings(self, values, scale, spacing):
        strings = super().tickStrings(values, scale, spacing)
        if any(len(s) > 7 for s in strings):
            strings = [f"{v * scale:.3g}" for v in values]
        return strings

    def set_names(self, positions, names, max_px: int, min_step: float = 1) -> None:
        """Named ticks at ``positions`` (every ``min_step``-th, rounded up), elided to ``max_px``."""
        metrics = QFontMetrics(look.tick_font())
        step = max(1, math.ceil(min_step))
        ticks = [(float(p), metrics.elidedText(str(n), Qt.TextElideMode.ElideMiddle, max_px))
                 for p, n in list(zip(positions, names))[::step]]
        self.setTicks([ticks, []])


class TitleLabel(pg.LabelItem):
    """A lane title that never widens its lane: elided to the width it is given (the full
    text is the tooltip), the part after " — " (the clock warning) in the warning colour."""

    def __init__(self, parent=None):
        super().__init__("", parent=parent, size=LABEL_SIZE, color=look.INK, justify="left")
        self._text, self._bold, self._shown_width, self._busy = "", False, -1, False

    def set_title(self, text: str, bold: bool = False) -> None:
        self._text, self._bold = text, bold
        self.setToolTip(text)
        self._render(force=True)

    def _render(self, force: bool = False) -> None:
        width = int(self.width())
        if self._busy or (not force and width == self._shown_width):
            return
        self._busy, self._shown_width = True, width
        font = look.tick_font()
        font.setBold(self._bold)
        metrics = QFontMetrics(font)
        room = width - 6
        shown = self._text if room <= 0 or metrics.horizontalAdvance(self._text) <= room \
            else metrics.elidedText(self._text, Qt.TextElideMode.ElideRight, room)
        head, sep, tail = shown.partition(" — ")
        text = html.escape(head) + (f" — <span style='color:{look.hex_color(look.WARNING)}'>"
                                    f"{html.escape(tail)}</span>" if sep else "")
        self.setText(f"<b>{text}</b>" if self._bold else text)
        self._busy = False

    def updateMin(self):
        super().updateMin()
        height = self._sizeHint[Qt.SizeHint.MinimumSize][1]
        self.setMinimumWidth(0)
        self._sizeHint[Qt.SizeHint.MinimumSize] = (0, height)
        self._sizeHint[Qt.SizeHint.PreferredSize] = (0, height)

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        if ev is not None and hasattr(self, "_busy"):
            self._render()


def make_plot(height: int, stretch: bool) -> pg.PlotItem:
    plot = pg.PlotItem(axisItems={"left": CompactAxis("left"), "bottom": CompactAxis("bottom")},
                       enableMenu=False)
    plot.getAxis("left").setWidth(AXIS_WIDTH)
    plot.hideButtons()
    plot.setClipToView(True)
    plot.setDownsampling(auto=True, mode="peak")
    plot.setMouseEnabled(x=True, y=False)       # wheel and drag move time; y follows the data
    plot.layout.removeItem(plot.titleLabel)          # a title that elides instead of widening
    plot.titleLabel.setParentItem(None)
    plot.titleLabel = TitleLabel(plot)
    plot.layout.addItem(plot.titleLabel, 0, 1)
    reset_plot(plot, height, stretch)
    return plot


def release_plot(plot: pg.PlotItem) -> None:
    """Empty a lane's plot so it can serve another lane (building a PlotItem costs ~10 ms)."""
    plot.clear()
    plot.setXLink(None)


def reset_plot(plot: pg.PlotItem, height: int, stretch: bool) -> None:
    """A plot as a new lane starts it: no items, y follows the data, no time axis."""
    plot.invertY(False)
    plot.showGrid(x=True, y=True, alpha=0.13)
    plot.enableAutoRange(x=False, y=True)
    plot.setAutoVisible(y=True)
    plot.getAxis("left").setTicks(None)
    plot.setLabel("left", "")
    plot.showAxis("bottom", False)
    plot.setVisible(True)
    set_height(plot, height, stretch)


def set_height(plot: pg.PlotItem, height: int, stretch: bool) -> None:
    plot.setMinimumHeight(height)
    plot.setMaximumHeight(max(CURVE_MAX_HEIGHT, height) if stretch else height)
    plot.setPreferredHeight(height)


def set_title(plot: pg.PlotItem, text: str, bold: bool = False) -> None:
    plot.titleLabel.setVisible(True)
    plot.titleLabel.setMaximumHeight(TITLE_HEIGHT)
    plot.layout.setRowFixedHeight(0, TITLE_HEIGHT)
    plot.titleLabel.set_title(text, bold)


def fit_label(label: str, unit: str, px: int) -> str:
    """``label`` shortened to ``px`` (the unit kept whole at the end)."""
    metrics = QFontMetrics(look.tick_font())
    if metrics.horizontalAdvance(label) <= px:
        return label
    suffix = f" ({unit})" if unit and label.endswith(f"({unit})") else ""
    head = label[: len(label) - len(suffix)] if suffix else label
    room = max(px - metrics.horizontalAdvance(suffix), 12)
    return metrics.elidedText(head, Qt.TextElideMode.ElideRight, room) + suffix


def set_y_label(plot: pg.PlotItem, text: str, unit: str, height: int) -> None:
    shown = fit_label(text, unit, max(height - TITLE_HEIGHT - 4, 20)) if text else ""
    plot.setLabel("left", shown, **{"font-size": LABEL_SIZE, "color": look.hex_color(look.INK)})


# items --------------------------------------------------------------------------------

def curve_item(curve: Curve, color) -> pg.PlotDataItem:
    t, y = curve.drawn()
    broken = len(curve.breaks) > 0 or not np.isfinite(curve.y).all()
    return pg.PlotDataItem(t, y, pen=pg.mkPen(color, width=1.2), connect="finite" if broken else "all",
                           skipFiniteCheck=not broken)


def roi_item(plot: pg.PlotItem, roi: RoiImage, height: int) -> pg.ImageItem:
    item = pg.ImageItem(roi.image, axisOrder="row-major", autoDownsample=True)
    item.setColorMap(pg.colormap.get(look.DIVERGING_MAP if roi.diverging else look.SEQUENTIAL_MAP))
    item.setLevels(roi.levels)
    x0, x1 = roi.extent
    item.setRect(QRectF(x0, 0.0, x1 - x0, float(len(roi.rois))))
    n = len(roi.rois)
    plot.invertY(True)
    plot.enableAutoRange(y=False)
    plot.setAutoVisible(y=False)
    plot.setYRange(0, n, padding=0)
    plot.showGrid(x=True, y=False)
    px_per_roi = max((height - TITLE_HEIGHT - 6) / max(n, 1), 0.1)
    plot.getAxis("left").set_names(np.arange(n) + 0.5, roi.rois, AXIS_WIDTH - 26,
                                   min_step=13 / px_per_roi)
    return item


def roi_height(roi: RoiImage) -> int:
    return int(min(max(TITLE_HEIGHT + 8 + 7 * len(roi.rois), 90), 190))


def health_items(plot: pg.PlotItem, health: FrameHealth) -> list:
    """The frame-interval trace, the dropped-frame gaps shaded, and a marker per gap
    (visible at any zoom; hover for the gap's length)."""
    median = health.median_ms if health.median_ms > 0 else 1.0
    top = 3.0 * median
    plot.enableAutoRange(y=False)
    plot.setAutoVisible(y=False)
    plot.setYRange(0, top, padding=0)
    plot.getAxis("left").setTicks([[(0.0, "0"), (median, f"{median:.3g}")], []])
    trace = pg.PlotDataItem(health.t[1:], health.interval_ms, pen=pg.mkPen(look.MUTED, width=1),
                            skipFiniteCheck=True)
    items = [trace]
    if len(health.gap_starts):
        items.append(IntervalShading(health.gap_starts, health.gap_stops, color=(*look.DROPPED, 110)))
        mids = (health.gap_starts + health.gap_stops) / 2
        texts = [f"dropped frames at {a:.3f}–{b:.3f} s (gap {1000 * (b - a):.1f} ms, median "
                 f"{median:.1f} ms)" for a, b in zip(health.gap_starts, health.gap_stops)]
        items.append(pg.ScatterPlotItem(mids, np.full(len(mids), top * 0.8), data=texts, symbol="t",
                                        size=9, pen=pg.mkPen(None), brush=pg.mkBrush(*look.DROPPED),
                                        hoverable=True, tip=lambda x, y, data: data))
    return items


def health_height() -> int:
    return TITLE_HEIGHT + 46


def span_items(plot: pg.PlotItem, spans: Spans) -> list:
    """One row per track: filled bars; the rows are named on the y axis."""
    n = len(spans.tracks)
    items = [SpanBars(track.starts, track.stops, k + 0.15, k + 0.85, look.color(k))
             for k, track in enumerate(spans.tracks)]
    plot.invertY(True)
    plot.enableAutoRange(y=False)
    plot.setAutoVisible(y=False)
    plot.setYRange(0, n, padding=0)
    plot.showGrid(x=True, y=False)
    plot.getAxis("left").set_names(np.arange(n) + 0.5, [t.label for t in spans.tracks],
                                   AXIS_WIDTH - 8)
    return items


def spans_height(spans: Spans) -> int:
    return TITLE_HEIGHT + 8 + ROW_HEIGHT * max(len(spans.tracks), 1)


def marker_items(plot: pg.PlotItem, markers: Markers) -> list:
    """A triangle per note; hovering one shows its time and full text."""
    texts = [f"{t:.1f} s: {text}" for t, text in zip(markers.t, markers.texts)]
    plot.enableAutoRange(y=False)
    plot.setAutoVisible(y=False)
    plot.setYRange(0, 1, padding=0)
    plot.getAxis("left").setTicks([[], []])
    plot.showGrid(x=True, y=False)
    item = pg.ScatterPlotItem(markers.t, np.full(len(markers.t), 0.45), data=texts, symbol="t",
                              size=11, pen=pg.mkPen(*look.NOTE_PEN[:3]),
                              brush=pg.mkBrush(*look.NOTE_PEN[:3], 170), hoverable=True,
                              tip=lambda x, y, data: data)
    return [item]


def markers_height() -> int:
    return TITLE_HEIGHT + 24


def note_line(t: float, text: str) -> pg.InfiniteLine:
    line = pg.InfiniteLine(pos=t, angle=90, movable=False,
                           pen=pg.mkPen(*look.NOTE_PEN, width=1, style=Qt.PenStyle.DotLine))
    line.setToolTip(f"note at {t:.1f} s: {text}")
    return line


def window_region(window) -> pg.LinearRegionItem:
    region = pg.LinearRegionItem(values=window, movable=False, brush=pg.mkBrush(*look.WINDOW_FILL),
                                 pen=pg.mkPen(None))
    region.setZValue(-30)
    return region


def trial_shading(spans: Spans) -> IntervalShading:
    starts = np.concatenate([t.starts for t in spans.tracks]) if spans.tracks else np.zeros(0)
    stops = np.concatenate([t.stops for t in spans.tracks]) if spans.tracks else np.zeros(0)
    return IntervalShading(starts, stops, color=look.TRIAL_FILL)
