"""datakit's desktop app (PySide6 + pyqtgraph): coverage, filters, loading, plots, console.

``datakit-gui [ROOT ...]`` or ``python -m datakit_gui``; see :mod:`datakit_gui.app`.
Importing this package needs no display server; ``MainWindow`` needs a QApplication.
"""
from __future__ import annotations

__all__ = ["MainWindow", "main"]


def __getattr__(name):
    if name == "MainWindow":
        from .main_window import MainWindow

        return MainWindow
    if name == "main":
        from .app import main

        return main
    raise AttributeError(f"module 'datakit_gui' has no attribute {name!r}")
