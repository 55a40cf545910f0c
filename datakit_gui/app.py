"""``datakit-gui``: parse the command line, create the QApplication and the main window."""
from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="datakit-gui",
        description="Browse an experiment's recordings: coverage, filters, validation, "
                    "loading, plots and an IPython console.")
    parser.add_argument("roots", nargs="*", metavar="ROOT",
                        help="experiment folder(s) to open (each holding data/ and processed/)")
    parser.add_argument("--demo", action="store_true",
                        help="write the demo experiment into the cache folder (once) and open it")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes for loading (default: one per CPU core)")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    return parser.parse_args(argv)


def configure_pyqtgraph() -> None:
    """The app's pyqtgraph options (kept for scripts; ``MainWindow()`` applies them itself)."""
    from .look import configure_pyqtgraph as configure

    configure()


def _close_on_signals(window) -> None:
    """Ctrl+C / SIGTERM in the terminal close the window like the close button (jobs are
    cancelled and waited for); a light timer lets Python see the signal while Qt waits."""
    import signal

    from PySide6.QtCore import QTimer

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: window.close())
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(250)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.version:
        import datakit

        print(f"datakit-gui {datakit.get_version()}")
        return 0
    if args.workers is not None and args.workers < 1:
        print("datakit-gui: --workers must be at least 1", file=sys.stderr)
        return 2
    os.environ.setdefault("QT_API", "pyside6")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("datakit-gui")
    app.setOrganizationName("datakit")
    app.setApplicationDisplayName("datakit")
    from .main_window import MainWindow  # applies the look (look.apply) when created

    window = MainWindow(workers=args.workers)
    window.show()
    _close_on_signals(window)
    if args.demo:
        window.commands.open_demo()
    elif args.roots:
        window.open_roots(args.roots)
    return app.exec()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
