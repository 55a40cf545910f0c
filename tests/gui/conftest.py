"""GUI fixtures: one generated demo experiment per session, windows on a shared process pool."""
from __future__ import annotations

import concurrent.futures as cf
import threading

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")


@pytest.fixture(scope="session", autouse=True)
def _gui_session(qapp):
    """pyqtgraph options as the app sets them; the PySide6 refcount workaround."""
    from datakit_gui import qtfix
    from datakit_gui.app import configure_pyqtgraph

    qtfix.apply()
    configure_pyqtgraph()
    yield


@pytest.fixture(scope="session")
def demo_experiment(tmp_path_factory):
    """A small demo experiment (2 subjects x 2 sessions, 20 s recordings), written once."""
    from datakit.demo import generate

    root = tmp_path_factory.mktemp("gui-demo") / "experiment"
    return generate(root, subjects=2, sessions=2, duration=20.0, seed=3)


@pytest.fixture(scope="session")
def demo_root(demo_experiment):
    from pathlib import Path

    return Path(demo_experiment.root)


@pytest.fixture(scope="session")
def demo_dataset(demo_root):
    import warnings

    import datakit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        return datakit.Dataset.from_directory(demo_root)


class GatedExecutor(cf.Executor):
    """Delegates to a real pool; while ``gate`` is clear, submitted work waits (stays
    pending and cancellable), so a test can hold a job mid-run deterministically."""

    def __init__(self, inner):
        self.inner = inner
        self.gate = threading.Event()
        self.gate.set()
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        if self.gate.is_set():
            return self.inner.submit(fn, *args, **kwargs)
        outer = cf.Future()
        # cancelled while held back: tell waiters at once, like a real pool's pending item
        outer.add_done_callback(lambda f: f.cancelled() and f.set_running_or_notify_cancel())

        def forward():
            self.gate.wait()
            try:
                if outer.cancelled() or not outer.set_running_or_notify_cancel():
                    return
            except RuntimeError:   # cancelled meanwhile
                return
            real = self.inner.submit(fn, *args, **kwargs)

            def copy(done):
                if done.exception() is not None:
                    outer.set_exception(done.exception())
                else:
                    outer.set_result(done.result())

            real.add_done_callback(copy)

        threading.Thread(target=forward, daemon=True).start()
        return outer

    def shutdown(self, wait=True, *, cancel_futures=False):
        self.gate.set()


@pytest.fixture(scope="session")
def process_pool():
    from datakit.engine import make_executor

    pool = make_executor(2, "process")
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def executor(process_pool):
    gated = GatedExecutor(process_pool)
    yield gated
    gated.gate.set()


@pytest.fixture
def dialog_log(monkeypatch):
    """Every modal dialog replaced: calls are recorded, answers come from ``answers``."""
    from datakit_gui import dialogs

    log = {"calls": [], "answers": {}}

    def recorder(name, default=None):
        def fake(*args, **kwargs):
            log["calls"].append((name, args[1:]))
            return log["answers"].get(name, default)
        return fake

    for name in ("show_error", "show_info", "ask_directory", "ask_save_frame_path",
                 "ask_open_frame_path", "ask_export_path", "ask_nwb_folder", "show_notifications"):
        monkeypatch.setattr(dialogs, name, recorder(name))
    monkeypatch.setattr(dialogs, "confirm_pickle", recorder("confirm_pickle", False))
    monkeypatch.setattr(dialogs, "confirm_replace", recorder("confirm_replace", True))
    monkeypatch.setattr(dialogs, "confirm_overwrite_nwb", recorder("confirm_overwrite_nwb", False))
    monkeypatch.setattr(dialogs, "ask_protocol_path", recorder("ask_protocol_path", None))
    monkeypatch.setattr(dialogs, "ask_unsaved_protocol", recorder("ask_unsaved_protocol", "discard"))
    monkeypatch.setattr(dialogs, "ask_run_on", recorder("ask_run_on", None))
    log["errors"] = lambda: [c for c in log["calls"] if c[0] == "show_error"]
    return log


def close_and_wait(qtbot, window, executor) -> None:
    """Close like a user (jobs cancelled and waited for) before pytest-qt deletes the window."""
    executor.gate.set()
    try:
        if not window.isVisible():
            return
    except RuntimeError:      # already deleted by the test
        return
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30000)


@pytest.fixture
def make_window(qtbot, tmp_path, executor, dialog_log):
    from PySide6.QtCore import QSettings

    from datakit_gui import MainWindow

    def make(settings_path=None):
        path = settings_path or tmp_path / "settings.ini"
        settings = QSettings(str(path), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, executor=executor, workers=2)
        qtbot.addWidget(window, before_close_func=lambda w: close_and_wait(qtbot, w, executor))
        window.resize(1400, 900)
        window.show()
        return window

    return make


@pytest.fixture
def window(make_window, demo_root, qtbot):
    """The main window with the demo experiment open."""
    win = make_window()
    with qtbot.waitSignal(win.state.dataset_changed, timeout=30000):
        assert win.open_roots([demo_root])
    return win
