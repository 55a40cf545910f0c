"""Regenerate the README screenshots of the real window on the demo experiment.

    xvfb-run -a -s "-screen 0 1600x1000x24" python resources/screenshots.py [OUT_DIR]

(or with QT_QPA_PLATFORM=offscreen).  Uses a throw-away settings file and the demo in
the user's cache (written on first use, like ``datakit-gui --demo``).  Writes
``screenshot-*.png`` into OUT_DIR (default: this folder): the start page, the coverage
view, the plot of one cell of each demo task kind, filters with the console.  Every
picture shows the app's defaults: nothing is unticked or rearranged by hand.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QPointF, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication

SIZE = (1600, 1000)
PLOT_HEIGHT = 1450          # tall enough for a widefield cell's ten lanes without scrolling
TASKS = ("widefield", "gratings", "movies")


def wait_for(signal, timeout_s: float = 120.0) -> None:
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(loop.quit)


def settle(ms: int = 400) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main(out: Path) -> None:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from datakit_gui.demo_cache import ensure_demo
    from datakit_gui.main_window import MainWindow  # applies the app's look itself

    out.mkdir(parents=True, exist_ok=True)
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "shots.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    for name in ("2025-widefield-cohort", "2025-gratings-pilot"):
        window.prefs.add_recent([str(Path.home() / "experiments" / name)])
    window.welcome.refresh()
    window.resize(*SIZE)
    window.show()
    settle()
    window.grab().save(str(out / "screenshot-welcome.png"))

    root = ensure_demo()
    window.open_roots([root])
    wait_for(window.state.dataset_changed)
    window.actions["validate"].trigger()
    wait_for(window.state.report_changed)
    window.report.show_errors()
    window.report.status.setCurrentIndex(3)          # errors and missing
    errors = window.state.report[window.state.report["status"] == "error"]
    key = tuple(errors.iloc[0][["Subject", "Session", "Task"]])
    window.state.select_cell(key, str(errors.iloc[0]["Source"]))
    wait_for(window.state.cell_loaded)
    settle(800)
    window.grab().save(str(out / "screenshot-coverage.png"))

    # one cell of each task kind, exactly as the plot shows it by default (nothing unticked)
    window.resize(SIZE[0], PLOT_HEIGHT)
    window.resizeDocks([window.plot_dock], [int(SIZE[0] * 0.5)], Qt.Orientation.Horizontal)
    settle()
    inventory = window.state.dataset.inventory
    for task in TASKS:
        rows = inventory[inventory.index.get_level_values("Task") == f"task-{task}"]
        key = tuple(rows.notna().sum(axis=1).idxmax())          # the cell with the most files
        window.state.select_cell(key)
        wait_for(window.state.cell_loaded)
        settle(800)
        plot = window.plot
        if plot.plots:                                           # the crosshair's readout, mid-session
            lane = next((p for v, p in zip(plot._visible_views(), plot.plots) if v.lane.kind == "curve"),
                        plot.plots[-1])
            (x0, x1), (y0, y1) = lane.vb.viewRange()
            plot._mouse_moved((lane.vb.mapViewToScene(QPointF(x0 + (x1 - x0) * 0.42, (y0 + y1) / 2)),))
        settle()
        plot.grab().save(str(out / f"screenshot-plot-{task}.png"))
    window.resize(*SIZE)
    settle()

    subjects = window.state.dataset.subjects
    box = window.filters.boxes["subject"]
    box.model.set_checked(subjects[:-1])
    sources = window.filters.boxes["source"]
    sources.mode.setCurrentIndex(1)
    sources.model.set_checked(["suite2p", "mesomap"])
    window.actions["materialize"].trigger()
    wait_for(window.state.frame_changed, 300)
    window.show_console()                            # opens at its own useful height
    wait_for(window.console_dock.kernel_ready, 30) if not window.console_dock.started else None
    window.console_dock.execute("df.shape")
    settle(600)
    window.console_dock.execute("df[('treadmill', 'speed_mm')].dropna().map(len)")
    settle(1200)
    window.grab().save(str(out / "screenshot-filters-console.png"))
    window.close()
    wait_for(window.jobs.idle, 10) if window.jobs.running_jobs() else None
    app.processEvents()
    print("wrote", ", ".join(sorted(p.name for p in out.glob("screenshot-*.png"))))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
