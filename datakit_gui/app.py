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


#: The system libraries Qt's xcb platform plugin loads on Linux (Debian package names).
XCB_LIBRARIES = {"xcb-cursor": "libxcb-cursor0", "xcb-icccm": "libxcb-icccm4",
                 "xcb-keysyms": "libxcb-keysyms1"}
INSTALL_LINE = "sudo apt-get install -y " + " ".join(XCB_LIBRARIES.values())


def window_problem() -> str | None:
    """Why Qt could not open a window here, said plainly, or None.

    Qt aborts the process with a long message when its platform plugin cannot load;
    this looks first: on Linux with the xcb platform, a display and the three xcb
    libraries must be there.
    """
    if not sys.platform.startswith("linux"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return None          # offscreen, wayland, vnc...: Qt's own business
    if not platform and os.environ.get("WAYLAND_DISPLAY"):
        return None
    import ctypes.util

    missing = [package for name, package in XCB_LIBRARIES.items() if ctypes.util.find_library(name) is None]
    if missing:
        return (f"Qt needs system libraries to open a window, and {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} missing. Install them with:\n\n"
                f"    {INSTALL_LINE}\n\n(on Debian or Ubuntu), then start datakit-gui again.")
    if not os.environ.get("DISPLAY"):
        return ("there is no display to open a window on (DISPLAY is not set). Start "
                "datakit-gui from a desktop session, over ssh with -X, or under xvfb-run.")
    return None


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


def start_log(folder=None):
    """The app's log file (``datakit-gui.log`` in the per-user log folder, or
    ``$DATAKIT_LOG_DIR``), where every notification and the library's log records go; its
    path, or None when the folder cannot be written (the app runs on without a file)."""
    import logging
    import logging.handlers
    from pathlib import Path

    from . import notifications

    if folder is None:
        folder = os.environ.get("DATAKIT_LOG_DIR")
    if folder is None:
        import platformdirs

        folder = platformdirs.user_log_dir("datakit", appauthor=False)
    path = Path(folder).expanduser() / "datakit-gui.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=2,
                                                       encoding="utf-8")
    except OSError as exc:
        print(f"datakit-gui: no log file ({exc})", file=sys.stderr)
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("datakit", "datakit_gui"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    notifications.LOG_FILE = path
    return path


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
    problem = window_problem()
    if problem:
        print(f"datakit-gui: {problem}", file=sys.stderr)
        return 1
    import warnings

    start_log()
    # the library's warnings reach the user each time (the default shows each place once)
    warnings.filterwarnings("always", module=r"datakit")
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
