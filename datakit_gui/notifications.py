"""One route for everything the app has to tell: errors and warnings reach the user one way.

Failed jobs, exceptions in slots and in other threads, and the library's warnings
(``ConflictWarning``, ``IndexWarning``, ``ExpectationWarning``, the worker-pool fallback,
...) all become a :class:`Notification`: logged (logger ``datakit_gui``), kept in a short
history, shown in the status bar with its details a click away, and, for what must
interrupt (a job the user started failed), shown in a dialog.  Nothing is only printed
to a terminal a desktop user does not have.

While a window exists :meth:`Notifier.install` routes ``sys.excepthook``,
``threading.excepthook`` and ``warnings.showwarning`` here (each hook calls the one it
replaced afterwards, so a terminal or a test harness still sees everything);
:meth:`Notifier.uninstall` puts back exactly what it replaced.  Hooks run in any
thread: they only emit a signal, which Qt delivers in the GUI thread.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QToolButton

from . import look

logger = logging.getLogger("datakit_gui")

ERROR, WARNING, INFO = "error", "warning", "info"
LEVELS = {ERROR: logging.ERROR, WARNING: logging.WARNING, INFO: logging.INFO}
HISTORY = 200
#: The app's log file once :func:`datakit_gui.app.start_log` opened it (shown with the history).
LOG_FILE = None


@dataclass(frozen=True)
class Notification:
    level: str
    title: str
    message: str
    details: str = ""
    time: float = field(default_factory=time.time)

    def text(self) -> str:
        return f"{self.title}: {self.message}" if self.title else self.message


class Notifier(QObject):
    """The app's one route for errors and warnings (see the module doc)."""

    notified = Signal(object)        # a Notification, in the GUI thread
    _posted = Signal(object)         # from any thread

    def __init__(self, window=None):
        super().__init__(window)
        self.window = window
        self.history: list[Notification] = []
        self._posted.connect(self._deliver)
        self._installed = False
        self._previous: dict = {}

    # telling ----------------------------------------------------------------------

    def error(self, title: str, message: str, details: str = "", *, interrupt: bool = True) -> None:
        """An error; ``interrupt`` also opens a dialog (a job the user started failed)."""
        self.post(Notification(ERROR, title, message, details or ""), interrupt=interrupt)

    def warning(self, title: str, message: str, details: str = "") -> None:
        self.post(Notification(WARNING, title, message, details or ""))

    def post(self, note: Notification, *, interrupt: bool = False) -> None:
        """Log and record ``note`` and show it; safe to call from any thread."""
        logger.log(LEVELS.get(note.level, logging.INFO), "%s%s", note.text(),
                   f"\n{note.details}" if note.details else "")
        try:
            self._posted.emit((note, interrupt))
        except RuntimeError:    # the window is gone: the log has it
            pass

    def _deliver(self, item) -> None:
        note, interrupt = item
        self.history.append(note)
        del self.history[:-HISTORY]
        self.notified.emit(note)
        if interrupt and self.window is not None:
            from . import dialogs

            dialogs.show_error(self.window, note.title, note.message, note.details or None)

    # the process-wide hooks, while a window exists ----------------------------------

    def install(self) -> None:
        if self._installed:
            return
        self._previous = {"sys": sys.excepthook, "threading": threading.excepthook,
                          "showwarning": warnings.showwarning}
        sys.excepthook = self._excepthook
        threading.excepthook = self._threading_excepthook
        warnings.showwarning = self._showwarning
        self._installed = True

    def uninstall(self) -> None:
        """Put back what :meth:`install` replaced, where it is still ours; where another
        window's hook came on top, ours stays in its chain and only passes things on."""
        if not self._installed:
            return
        self._installed = False
        if sys.excepthook == self._excepthook:
            sys.excepthook = _unwrap(self._previous["sys"], "sys")
        if threading.excepthook == self._threading_excepthook:
            threading.excepthook = _unwrap(self._previous["threading"], "threading")
        if warnings.showwarning == self._showwarning:
            warnings.showwarning = _unwrap(self._previous["showwarning"], "showwarning")

    def _excepthook(self, exc_type, exc, tb) -> None:
        if self._installed:
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            self.error("Unexpected error", f"{exc_type.__name__}: {exc}", text, interrupt=False)
        self._previous["sys"](exc_type, exc, tb)

    def _threading_excepthook(self, args) -> None:
        if self._installed and args.exc_type is not SystemExit:
            text = "".join(traceback.format_exception(args.exc_type, args.exc_value,
                                                      args.exc_traceback))
            where = f" in thread {args.thread.name}" if args.thread is not None else ""
            self.error("Unexpected error" + where, f"{args.exc_type.__name__}: {args.exc_value}",
                       text, interrupt=False)
        self._previous["threading"](args)

    def _showwarning(self, message, category, filename, lineno, file=None, line=None) -> None:
        if self._installed:
            self.warning(category.__name__, str(message), f"{filename}:{lineno}")
        self._previous["showwarning"](message, category, filename, lineno, file, line)


def _unwrap(hook, kind: str):
    """``hook``, or what it passes things on to when it belongs to a closed window's
    notifier (windows closed in another order than they opened)."""
    while isinstance(getattr(hook, "__self__", None), Notifier) and not hook.__self__._installed:
        hook = hook.__self__._previous[kind]
    return hook


class NotificationButton(QToolButton):
    """The status bar's latest error or warning; a click lists them all with details."""

    def __init__(self, notifier: Notifier, parent=None):
        super().__init__(parent)
        self.setObjectName("notifications")
        self.setAutoRaise(True)
        self.notifier = notifier
        self.setToolTip("Errors and warnings of this session (click for the details)")
        self.clicked.connect(self.show_all)
        notifier.notified.connect(self._show)
        self.hide()

    def _show(self, note: Notification) -> None:
        count = len(self.notifier.history)
        icon = "⚠" if note.level == WARNING else "✖" if note.level == ERROR else "ℹ"
        text = note.text()
        text = text if len(text) <= 60 else text[:59] + "…"
        self.setText(f"{icon} {text}" + (f"  (+{count - 1})" if count > 1 else ""))
        colour = {ERROR: "rgb({}, {}, {})".format(*look.CRIMSON),
                  WARNING: "rgb(138, 75, 0)"}.get(note.level)      # a dark orange: legible
        self.setStyleSheet(f"QToolButton#notifications {{ color: {colour}; }}" if colour else "")
        self.show()

    def show_all(self) -> None:
        from . import dialogs

        dialogs.show_notifications(self.window(), list(self.notifier.history), LOG_FILE)
