"""The coverage heatmap's two axes: cells (left) and sources (top).

The cell axis labels what fits: every cell when rows are tall enough, else one label per
session, else one per subject.  The source axis puts every source name over its column
and staggers them on two lines when the columns are narrower than the names.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFontMetricsF

MIN_LABEL_PX = 14.0


def _groups(keys: list[tuple], depth: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Start row, end row and label of each run of equal key prefixes of length ``depth``."""
    starts, ends, labels = [], [], []
    previous = None
    for row, key in enumerate(keys):
        prefix = key[:depth]
        if prefix != previous:
            if starts:
                ends.append(row)
            starts.append(row)
            labels.append(" · ".join(prefix))
            previous = prefix
    if starts:
        ends.append(len(keys))
    return np.asarray(starts, dtype=float), np.asarray(ends, dtype=float), labels


class CellAxis(pg.AxisItem):
    """Left axis: cell labels at the granularity the zoom allows."""

    def __init__(self, **kwargs):
        super().__init__("left", **kwargs)
        self._keys: list[tuple] = []
        self._suffix: list[str] = []
        self._levels: list[tuple] = []
        self._strings: dict[float, str] = {}
        self.setLabel("cell  (subject · session · task)")

    def set_keys(self, keys: list[tuple], recorded=None) -> None:
        self._keys = [tuple(map(str, k)) for k in keys]
        self._suffix = ([] if recorded is None else
                        ["" if r else "  (not recorded)" for r in recorded])
        depth = len(self._keys[0]) if self._keys else 0
        self._levels = [_groups(self._keys, d) for d in range(1, depth)]
        metrics = QFontMetricsF(self.style["tickFont"] or self.font())
        longest = max((metrics.horizontalAdvance(self.cell_text(i)) for i in range(min(5000, len(self._keys)))),
                      default=60)
        self.setWidth(int(min(360, longest + 40)))
        self.picture = None
        self.update()

    def cell_text(self, row: int) -> str:
        """A cell's label (the task without its "task-" prefix: the axis title says what
        the parts are); a cell expected but never recorded says so."""
        key = self._keys[row]
        if len(key) >= 3 and key[2].startswith("task-"):
            key = (*key[:2], key[2][len("task-"):], *key[3:])
        text = " · ".join(key)
        return text + self._suffix[row] if row < len(self._suffix) else text

    def group_bounds(self, depth: int) -> np.ndarray:
        """Row positions where a new group of ``depth`` starts (for separator lines)."""
        if depth - 1 >= len(self._levels):
            return np.empty(0)
        return self._levels[depth - 1][0][1:]

    def tickValues(self, minVal, maxVal, size):
        self._strings = {}
        n = len(self._keys)
        minVal, maxVal = min(minVal, maxVal), max(minVal, maxVal)   # the view is inverted
        if not n or maxVal <= minVal or size <= 0:
            return []
        px_per_row = size / (maxVal - minVal)
        if px_per_row >= MIN_LABEL_PX:
            first, last = max(0, int(np.floor(minVal))), min(n, int(np.ceil(maxVal)))
            values = [r + 0.5 for r in range(first, last)]
            self._strings = {v: self.cell_text(int(v)) for v in values}
            return [(1.0, values)]
        for depth, (starts, ends, labels) in reversed(list(enumerate(self._levels))):
            visible = (ends > minVal) & (starts < maxVal)
            sizes = (ends - starts) * px_per_row
            if not visible.any():
                continue
            # finest level whose groups are tall enough; subjects always (thinned out)
            if depth == 0 or np.median(sizes[visible]) >= MIN_LABEL_PX:
                values, last_px = [], -np.inf
                for s, e, label in zip(starts[visible], ends[visible], np.asarray(labels, dtype=object)[visible]):
                    centre = (max(s, minVal) + min(e, maxVal)) / 2
                    if (centre - minVal) * px_per_row - last_px >= MIN_LABEL_PX:
                        values.append(centre)
                        self._strings[centre] = label
                        last_px = (centre - minVal) * px_per_row
                return [(1.0, values)]
        return []

    def tickStrings(self, values, scale, spacing):
        return [self._strings.get(v, "") for v in values]


class SourceAxis(pg.AxisItem):
    """Top axis: one label per source column, turned vertical when the columns are narrow."""

    def __init__(self, **kwargs):
        self._names: list[str] = []
        self._xs: list[float] = []
        self._vertical = False
        super().__init__("top", **kwargs)
        self.setLabel("source")

    def _metrics(self) -> QFontMetricsF:
        return QFontMetricsF(self.style["tickFont"] or self.font())

    def set_names(self, names) -> None:
        self._names = [str(n) for n in names]
        self._fit()
        self.picture = None
        self.update()

    def _fit(self) -> None:
        """Horizontal labels when every name fits its column, else vertical ones."""
        metrics = self._metrics()
        widths = [metrics.horizontalAdvance(n) for n in self._names] or [0.0]
        column_px = self.width() / max(1, len(self._names))
        vertical = max(widths) + 8 > column_px
        height = (max(widths) if vertical else metrics.height()) + metrics.height() + 22
        if vertical != self._vertical or abs(self.height() - height) > 1:
            self._vertical = vertical
            self.setHeight(int(height))

    def resizeEvent(self, ev=None):
        super().resizeEvent(ev)
        if getattr(self, "_names", None):
            self._fit()

    def tickValues(self, minVal, maxVal, size):
        return [(1.0, [i + 0.5 for i in range(len(self._names))])]

    def tickStrings(self, values, scale, spacing):
        return ["" for _ in values]   # drawn by drawPicture below

    def generateDrawSpecs(self, p):
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis_spec, tick_specs, _ = specs
        self._xs = [spec[1].x() for spec in tick_specs] if len(tick_specs) == len(self._names) else []
        return axis_spec, tick_specs, []

    def drawPicture(self, p, axisSpec, tickSpecs, textSpecs):
        super().drawPicture(p, axisSpec, tickSpecs, textSpecs)
        if not self._xs:
            return
        metrics = self._metrics()
        height = metrics.height()
        local = self.mapRectFromParent(self.geometry())
        base = local.bottom() - max(0, self.style["tickLength"]) - 3
        p.setPen(self.textPen())
        if self.style["tickFont"] is not None:
            p.setFont(self.style["tickFont"])
        for x, name in zip(self._xs, self._names):
            width = metrics.horizontalAdvance(name) + 2
            if self._vertical:
                p.save()
                p.translate(x, base)
                p.rotate(-90)
                p.drawText(QRectF(0, -height / 2, width, height),
                           int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), name)
                p.restore()
            else:
                left = min(max(x - width / 2, local.left()), local.right() - width)
                p.drawText(QRectF(left, base - height, width, height),
                           int(Qt.AlignmentFlag.AlignCenter), name)
