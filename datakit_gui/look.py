"""The app's look, in one place: colours, fonts and pyqtgraph's options.

``apply()`` runs wherever a :class:`~datakit_gui.MainWindow` is created (and in
``datakit-gui``'s ``main()``), so a script that builds the window itself gets the same
light plots.  The palette is Okabe & Ito's colour-blind-safe set; the heatmap and the
stream plot draw from it.
"""
from __future__ import annotations

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour
# vision deficiency.  Yellow is left out of the curve cycle (it vanishes on white).
BLUE = (0, 114, 178)
VERMILLION = (213, 94, 0)
GREEN = (0, 158, 115)
PURPLE = (204, 121, 167)
ORANGE = (230, 159, 0)
SKY = (86, 180, 233)
YELLOW = (240, 228, 66)
BLACK = (0, 0, 0)

#: Curve colours, in the order features are coloured.
PALETTE = (BLUE, VERMILLION, GREEN, PURPLE, ORANGE, SKY, (90, 90, 90))

#: A dark crimson for errors: beside the orange of "missing" it stays far apart for
#: red-green colour-blind readers too (CIELAB distance 49 under simulated deuteranopia,
#: where Okabe & Ito's vermillion gives 18).
CRIMSON = (170, 20, 40)

#: Coverage states, for the heatmap and anything that shows a (cell, source) status:
#: blues for files that are there, orange for missing, crimson for errors, near-white
#: (quiet) for "not expected", grey for what the filters leave out.
STATUS = {"ok": BLUE, "present": SKY, "missing": ORANGE, "error": CRIMSON,
          "not_expected": (246, 246, 246), "excluded": (200, 200, 200)}

INK = (33, 33, 33)              # text and axes
MUTED = (105, 105, 105)         # secondary text
WARNING = (176, 64, 0)          # text that says "careful" (a darker vermillion, readable)
BACKGROUND = "w"
WINDOW_FILL = (0, 158, 115, 20)     # the experiment window
TRIAL_FILL = (204, 121, 167, 45)    # stimulus trials behind the curves
NOTE_PEN = (150, 60, 120, 200)      # note markers
DROPPED = VERMILLION                # dropped frames

#: Colour maps for ROI x time images: one-signed data, and data around zero.
SEQUENTIAL_MAP = "viridis"
DIVERGING_MAP = "CET-CBD1"      # colour-blind-safe diverging (blue - grey - yellow)

FONT_PT = 9.0                   # the smallest text the app uses
TICK_PT = 8.5


def color(i: int) -> tuple:
    """The ``i``-th curve colour (cycling)."""
    return PALETTE[i % len(PALETTE)]


def hex_color(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb[:3])


def configure_pyqtgraph() -> None:
    """Light backgrounds, dark ink, row-major images (must run before plots are made)."""
    import pyqtgraph as pg

    pg.setConfigOptions(background=BACKGROUND, foreground=INK, antialias=False,
                        imageAxisOrder="row-major")


def apply(app=None) -> None:
    """Apply the look: pyqtgraph's options and a readable application font."""
    configure_pyqtgraph()
    if app is None:
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance()
    if app is not None:
        font = app.font()
        if 0 < font.pointSizeF() < FONT_PT:
            font.setPointSizeF(FONT_PT)
            app.setFont(font)


def tick_font():
    from PySide6.QtGui import QFont
    from PySide6.QtWidgets import QApplication

    font = QFont(QApplication.font())
    font.setPointSizeF(TICK_PT)
    return font
