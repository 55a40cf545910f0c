"""IntervalShading: many x-intervals shaded over the full height of a plot, in one item;
SpanBars: many x-intervals as bars in one row of a plot.

One LinearRegionItem per trial and per plot would be hundreds of items; these paint all
of a source's intervals with one brush.  IntervalShading follows the view's vertical
range; its bounding rect is cached and changed only after ``prepareGeometryChange()``
(changing it first leaves stale entries in the scene's index: a crash on a later paint).
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt


class IntervalShading(pg.GraphicsObject):
    def __init__(self, starts, stops, color=(150, 110, 200, 40)):
        super().__init__()
        starts = np.asarray(starts, dtype=float)
        stops = np.asarray(stops, dtype=float)
        keep = np.isfinite(starts) & np.isfinite(stops) & (stops > starts)
        self.starts, self.stops = starts[keep], stops[keep]
        self.brush = pg.mkBrush(*color)
        self.setZValue(-20)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._rect = QRectF()

    def intervals(self) -> list[tuple[float, float]]:
        return list(zip(self.starts.tolist(), self.stops.tolist()))

    def _wanted_rect(self) -> QRectF:
        view = self.viewRect()
        if view is None or not len(self.starts):
            return QRectF()
        return QRectF(float(self.starts.min()), view.top(),
                      float(self.stops.max() - self.starts.min()), view.height())

    def viewRangeChanged(self):
        rect = self._wanted_rect()
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        super().viewRangeChanged()

    def boundingRect(self):
        return QRectF(self._rect)

    def paint(self, painter, *args):
        view = self.viewRect()
        if view is None:
            return
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.brush)
        visible = (self.stops >= view.left()) & (self.starts <= view.right())
        for start, stop in zip(self.starts[visible], self.stops[visible]):
            painter.drawRect(QRectF(start, view.top(), stop - start, view.height()))


class SpanBars(pg.GraphicsObject):
    """Intervals as filled bars between ``y0`` and ``y1`` (one row of a spans lane), in
    one item; only the bars in view are painted."""

    def __init__(self, starts, stops, y0: float, y1: float, color):
        super().__init__()
        starts = np.asarray(starts, dtype=float)
        stops = np.asarray(stops, dtype=float)
        keep = np.isfinite(starts) & np.isfinite(stops) & (stops >= starts)
        order = np.argsort(starts[keep])
        self.starts, self.stops = starts[keep][order], stops[keep][order]
        self.y0, self.y1 = float(y0), float(y1)
        self.brush = pg.mkBrush(*color[:3], 125)
        self.pen = pg.mkPen(*color[:3], width=1)
        self.pen.setCosmetic(True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def intervals(self) -> list[tuple[float, float]]:
        return list(zip(self.starts.tolist(), self.stops.tolist()))

    def boundingRect(self):
        if not len(self.starts):
            return QRectF()
        return QRectF(float(self.starts[0]), self.y0, float(self.stops.max() - self.starts[0]),
                      self.y1 - self.y0)

    def paint(self, painter, *args):
        view = self.viewRect()
        painter.setPen(self.pen)
        painter.setBrush(self.brush)
        visible = np.ones(len(self.starts), dtype=bool) if view is None else \
            (self.stops >= view.left()) & (self.starts <= view.right())
        for start, stop in zip(self.starts[visible], self.stops[visible]):
            painter.drawRect(QRectF(start, self.y0, stop - start, self.y1 - self.y0))
