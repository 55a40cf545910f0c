"""One route for errors and warnings: failed jobs, exceptions in slots and threads and the
library's warnings all reach the status bar, the history (details on click) and the log."""
from __future__ import annotations

import logging
import shutil
import sys
import threading
import warnings

import pytest

import datakit
from datakit_gui import notifications


def history(window, level=None):
    return [n for n in window.notifier.history if level is None or n.level == level]


def test_a_failed_job_is_shown_logged_and_kept_with_its_details(make_window, qtbot, tmp_path,
                                                                dialog_log, caplog):
    window = make_window()
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"this is not an HDF5 file")
    with caplog.at_level(logging.ERROR, logger="datakit_gui"), \
            qtbot.waitSignal(window.notifier.notified, timeout=30000):
        window.commands.open_saved(str(broken))
    note, = history(window, notifications.ERROR)
    assert "failed" in note.title and "Traceback" in note.details
    (_, args), = dialog_log["errors"]()                  # a job the user started: a dialog
    assert args[0] == note.title
    button = window.notification_button
    assert button.isVisible() and note.title in button.text()
    assert any(note.title in r.getMessage() for r in caplog.records)
    button.click()                                       # the details, a click away
    (_, shown), = [c for c in dialog_log["calls"] if c[0] == "show_notifications"]
    assert shown[0] == [note]


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_reaches_the_user_and_the_terminal(make_window, qtbot, capsys,
                                                                  dialog_log):
    from PySide6.QtCore import QTimer

    window = make_window()

    def broken_slot():
        raise ZeroDivisionError("a bug in a slot")

    QTimer.singleShot(0, broken_slot)
    qtbot.waitUntil(lambda: bool(history(window, notifications.ERROR)), timeout=10000)
    note, = history(window, notifications.ERROR)
    assert "ZeroDivisionError: a bug in a slot" in note.message and "broken_slot" in note.details
    assert not dialog_log["errors"]()                    # nobody started it: no dialog
    assert "a bug in a slot" in window.notification_button.text()
    assert "ZeroDivisionError" in capsys.readouterr().err   # still printed for a terminal


def test_an_exception_in_a_worker_thread_reaches_the_user(make_window, qtbot, monkeypatch):
    window = make_window()
    passed_on = []
    monkeypatch.setitem(window.notifier._previous, "threading", passed_on.append)

    def crash():
        raise RuntimeError("lost in a thread")

    thread = threading.Thread(target=crash, name="loader")
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: bool(history(window, notifications.ERROR)), timeout=10000)
    note, = history(window, notifications.ERROR)
    assert "thread loader" in note.title and "lost in a thread" in note.message
    assert "crash" in note.details
    assert len(passed_on) == 1                           # the hook it replaced still runs


def test_a_library_warning_from_a_job_reaches_the_status_bar(make_window, qtbot, demo_root,
                                                             tmp_path, monkeypatch):
    root = tmp_path / "exp"
    shutil.copytree(demo_root, root)
    notes = sorted(root.rglob("*_notes.txt"))[0]
    # an older copy of a recording's notes: a second file for the same cell and source
    shutil.copy(notes, notes.with_name("20200101_000000_" + notes.name.split("_", 2)[2]))
    window = make_window()
    passed_on = []
    monkeypatch.setitem(window.notifier._previous, "showwarning",
                        lambda *args: passed_on.append(args))
    with warnings.catch_warnings():
        warnings.simplefilter("always", datakit.ConflictWarning)
        with qtbot.waitSignal(window.state.dataset_changed, timeout=30000):
            window.open_roots([root])
        qtbot.waitUntil(lambda: bool(history(window, notifications.WARNING)), timeout=10000)
    note, = history(window, notifications.WARNING)
    assert note.title == "ConflictWarning" and "Dataset.conflicts" in note.message
    assert "ConflictWarning" in window.notification_button.text()
    assert passed_on and passed_on[0][1] is datakit.ConflictWarning
    conflicts = window.state.dataset.conflicts                # and the experiment still opened
    assert (conflicts["reason"] == "latest file name wins").sum() == 1


def test_closing_the_window_puts_the_hooks_back(make_window, qtbot):
    before = sys.excepthook, threading.excepthook, warnings.showwarning
    window = make_window()
    assert sys.excepthook == window.notifier._excepthook
    assert threading.excepthook == window.notifier._threading_excepthook
    assert warnings.showwarning == window.notifier._showwarning
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30000)
    assert (sys.excepthook, threading.excepthook, warnings.showwarning) == before


def test_windows_closed_in_any_order_leave_the_original_hooks(make_window, qtbot):
    before = sys.excepthook, threading.excepthook, warnings.showwarning
    first, second = make_window(), make_window()
    first.close()
    qtbot.waitUntil(lambda: not first.isVisible(), timeout=30000)
    passed_on = []
    original = first.notifier._previous["showwarning"]
    first.notifier._previous["showwarning"] = lambda *args: passed_on.append(args[0])
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("the second window is still open", UserWarning)
    qtbot.waitUntil(lambda: bool(history(second)), timeout=5000)
    assert "still open" in history(second)[0].message and not history(first)
    assert [str(m) for m in passed_on] == ["the second window is still open"]
    first.notifier._previous["showwarning"] = original
    second.close()
    qtbot.waitUntil(lambda: not second.isVisible(), timeout=30000)
    assert (sys.excepthook, threading.excepthook, warnings.showwarning) == before


def test_the_log_file_gets_every_notification(make_window, qtbot, tmp_path, dialog_log):
    from datakit_gui.app import start_log

    path = start_log(tmp_path / "logs")
    try:
        window = make_window()
        with qtbot.waitSignal(window.notifier.notified, timeout=5000):
            window.notifier.warning("Something odd", "the disk is nearly full", "details here")
        for handler in logging.getLogger("datakit_gui").handlers:
            handler.flush()
        text = path.read_text()
        assert "WARNING datakit_gui: Something odd: the disk is nearly full" in text
        assert "details here" in text
        window.notification_button.click()
        (_, args), = [c for c in dialog_log["calls"] if c[0] == "show_notifications"]
        assert args[1] == path                            # the dialog says where the log is
    finally:
        for name in ("datakit", "datakit_gui"):
            logger = logging.getLogger(name)
            for handler in [h for h in logger.handlers
                            if getattr(h, "baseFilename", None) == str(path)]:
                logger.removeHandler(handler)
                handler.close()
        notifications.LOG_FILE = None


def test_a_folder_that_cannot_hold_the_log_leaves_the_app_running(tmp_path, capsys):
    from datakit_gui.app import start_log

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert start_log(blocker / "logs") is None
    assert "no log file" in capsys.readouterr().err
