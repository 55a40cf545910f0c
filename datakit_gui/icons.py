"""Small icons drawn in code: status dots in the coverage colours, the app icon."""
from __future__ import annotations

from functools import cache

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

from . import coverage as cov


@cache
def status_icon(code: int) -> QIcon:
    """A filled dot in the colour of a coverage status."""
    icon = QIcon()
    for size in (16, 32):
        pix = QPixmap(size, size)
        pix.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pix)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor(90, 90, 90))
        painter.setBrush(QColor(*cov.COLORS[code]))
        margin = size * 0.18
        painter.drawEllipse(QRectF(margin, margin, size - 2 * margin, size - 2 * margin))
        painter.end()
        icon.addPixmap(pix)
    return icon


@cache
def swatch(code: int, size: int = 12) -> QPixmap:
    """A small square in the colour of a coverage status (legends)."""
    pix = QPixmap(size, size)
    pix.fill(QColor(*cov.COLORS[code]))
    painter = QPainter(pix)
    painter.setPen(QColor(110, 110, 110))
    painter.drawRect(0, 0, size - 1, size - 1)
    painter.end()
    return pix


@cache
def app_icon() -> QIcon:
    """A tiny coverage grid: the app's window icon."""
    icon = QIcon()
    pattern = ((cov.OK, cov.OK, cov.MISSING), (cov.OK, cov.ERROR, cov.OK), (cov.PRESENT, cov.OK, cov.OK))
    for size in (32, 64, 128):
        pix = QPixmap(size, size)
        pix.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pix)
        step = size / 3
        for r, row in enumerate(pattern):
            for c, code in enumerate(row):
                painter.fillRect(QRectF(c * step + 1, r * step + 1, step - 2, step - 2),
                                 QColor(*cov.COLORS[code]))
        painter.end()
        icon.addPixmap(pix)
    return icon
