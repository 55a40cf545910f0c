"""Regenerate the README screenshots of the real window on the demo experiment.

    xvfb-run -a -s "-screen 0 1600x1000x24" python resources/screenshots.py [OUT_DIR]

(or with QT_QPA_PLATFORM=offscreen).  Uses a throw-away settings file and the demo in
the user's cache (written on first use, like ``datakit-gui --demo``).  Writes
``screenshot-*.png`` into OUT_DIR (default: this folder).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication

SIZE = (1600, 1000)


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
    from datakit_gui.app import configure_pyqtgraph
    from datakit_gui.demo_cache import ensure_demo
    from datakit_gui.main_window import MainWindow

    configure_pyqtgraph()
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

    inventory = window.state.dataset.inventory
    with_trials = inventory[inventory["psychopy"].notna()]
    rich = tuple(with_trials.notna().sum(axis=1).idxmax())      # a gratings/movies session
    window.state.select_cell(rich, "wheel")
    wait_for(window.state.cell_loaded)
    keep = {"wheel.speed_mm", "pupil_dlc.pupil_diameter_mm", "meso_mean.Mean", "suite2p.deltaf_f",
            "treadmill.speed_mm", "meso_dff.dF_F", "mesomap.VISp_L"}
    window.plot.features.set_checked([v for v in window.plot.features.values() if v in keep])
    settle(800)
    plot = window.plot
    (x0, x1), _ = plot.plots[0].viewRange() if plot.plots else ((0, 1), None)
    if plot.plots:
        (_, _), (y0, y1) = plot.plots[0].vb.viewRange()
        from PySide6.QtCore import QPointF

        x = x0 + (x1 - x0) * 0.42
        plot._mouse_moved((plot.plots[0].vb.mapViewToScene(QPointF(x, (y0 + y1) / 2)),))
    settle()
    window.grab().save(str(out / "screenshot-plot.png"))
    plot.grab().save(str(out / "screenshot-plot-panel.png"))

    subjects = window.state.dataset.subjects
    box = window.filters.boxes["subject"]
    box.model.set_checked(subjects[:-1])
    sources = window.filters.boxes["source"]
    sources.mode.setCurrentIndex(1)
    sources.model.set_checked(["suite2p", "mesomap"])
    window.actions["materialize"].trigger()
    wait_for(window.state.frame_changed, 300)
    window.resizeDocks([window.console_dock], [330], Qt.Orientation.Vertical)
    window.show_console()
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
