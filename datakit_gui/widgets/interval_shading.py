"""IntervalShading: many x-intervals shaded over the full height of a plot, in one item.

One LinearRegionItem per trial and per plot would be hundreds of items; this paints all
of a source's intervals with one brush and follows the view's vertical range.
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

    def intervals(self) -> list[tuple[float, float]]:
        return list(zip(self.starts.tolist(), self.stops.tolist()))

    def viewRangeChanged(self):
        self.prepareGeometryChange()
        super().viewRangeChanged()

    def boundingRect(self):
        view = self.viewRect()
        if view is None or not len(self.starts):
            return QRectF()
        return QRectF(float(self.starts.min()), view.top(),
                      float(self.stops.max() - self.starts.min()), view.height())

    def paint(self, painter, *args):
        view = self.viewRect()
        if view is None:
            return
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.brush)
        visible = (self.stops >= view.left()) & (self.starts <= view.right())
        for start, stop in zip(self.starts[visible], self.stops[visible]):
            painter.drawRect(QRectF(start, view.top(), stop - start, view.height()))
