"""Starting the app: entry points, the demo, recent folders, drops, names for automation."""
from __future__ import annotations

import os
import subprocess
import sys

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QDockWidget, QProgressBar, QTableView, QTreeView, QWidget

from datakit_gui import demo_cache
from datakit_gui.app import parse_args

OBJECT_NAMES = {"experimentTree": QTreeView, "coverageHeatmap": QWidget, "filterPanel": QWidget,
                "reportTable": QTableView, "streamPlot": QWidget, "consoleDock": QDockWidget,
                "jobProgress": QProgressBar}
ACTIONS = {"actionOpen": "Ctrl+O", "actionValidate": "Ctrl+Shift+V", "actionMaterialize": "Ctrl+M",
           "actionCancel": "Esc", "actionSave": "Ctrl+S", "actionConsole": "F12"}


def test_gui_imports_without_a_display_server():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    code = ("import datakit_gui, datakit_gui.main_window, datakit_gui.app; "
            "from datakit_gui import MainWindow; print(MainWindow.__name__)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "MainWindow"


def test_command_line():
    out = subprocess.run([sys.executable, "-m", "datakit_gui", "--help"], capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0 and "--demo" in out.stdout and "ROOT" in out.stdout
    args = parse_args(["a", "b", "--workers", "3"])
    assert args.roots == ["a", "b"] and args.workers == 3 and not args.demo
    assert parse_args(["--demo"]).demo


def test_names_for_automation_and_shortcuts(make_window):
    window = make_window()
    for name, kind in OBJECT_NAMES.items():
        assert window.findChild(kind, name) is not None, name
    for name, shortcut in ACTIONS.items():
        action = window.findChild(type(window.actions["open"]), name)
        assert action is not None, name
        assert action.shortcut().toString() == shortcut
    assert window.centre.currentWidget() is window.welcome     # empty window: open or recent


def test_demo_cache_is_written_once(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert demo_cache.cache_root() == tmp_path / "cache" / "datakit" / "demo"
    calls = []
    import datakit.demo

    real = datakit.demo.generate

    def counting(root, **kwargs):
        calls.append(kwargs)
        return real(root, **kwargs)

    monkeypatch.setattr(datakit.demo, "generate", counting)
    root = demo_cache.ensure_demo(subjects=1, sessions=1, duration=10.0)
    assert root == demo_cache.cache_root() and demo_cache.is_ready(root)
    assert (root / "data").is_dir()
    assert demo_cache.ensure_demo() == root
    assert len(calls) == 1
    assert not list(root.parent.glob("*.partial-*"))
    # a demo written by an older datakit (another marker) is written again
    (root / demo_cache.MARKER).write_text("written by datakit-gui --demo\n", encoding="utf-8")
    assert not demo_cache.is_ready(root)
    assert demo_cache.ensure_demo(subjects=1, sessions=1, duration=10.0) == root
    assert len(calls) == 2 and (root / "datakit.toml").is_file()


def test_demo_command_writes_with_progress_and_opens(make_window, tmp_path, qtbot):
    window = make_window()
    progress = []
    window.jobs.progressed.connect(lambda job, done, total, message: progress.append((done, total)))
    root = tmp_path / "demo"
    with qtbot.waitSignal(window.state.dataset_changed, timeout=120000):
        assert window.commands.open_demo(root=root, subjects=1, sessions=1, duration=10.0)
    assert any(total > 0 and done == total for done, total in progress)   # real progress shown
    assert [str(r) for r in window.state.dataset.roots] == [str(root.resolve())]
    assert window.centre.currentWidget() is window.heatmap
    assert "demo" in window.windowTitle()


def test_recent_folders_and_layout_are_remembered(make_window, demo_root, tmp_path, qtbot):
    settings = tmp_path / "remember.ini"
    first = make_window(settings)
    with qtbot.waitSignal(first.state.dataset_changed, timeout=30000):
        first.open_roots([demo_root])
    first.close()
    qtbot.waitUntil(lambda: not first.isVisible())
    second = make_window(settings)
    assert second.prefs.recent_folders()[0] == [str(demo_root)]
    recent = second.welcome.recent_model.stringList()
    assert recent and str(demo_root) in recent[0]
    assert second.prefs.settings.value("window/state") is not None
    with qtbot.waitSignal(second.state.dataset_changed, timeout=30000):
        second.welcome.recent.activated.emit(second.welcome.recent_model.index(0))
    assert second.state.roots == [str(demo_root)]


def test_dropping_a_folder_opens_it(make_window, demo_root, qtbot):
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(demo_root))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.state.dataset_changed, timeout=30000):
        window.dropEvent(event)
    assert window.state.roots == [str(demo_root)]


def test_automatic_gc_is_back_after_the_last_window_closes(make_window, qtbot):
    import gc

    first, second = make_window(), make_window()
    assert not gc.isenabled()              # collected on a GUI-thread timer while windows live
    first.close()
    qtbot.waitUntil(lambda: not first.isVisible())
    assert not gc.isenabled()
    second.close()
    qtbot.waitUntil(lambda: not second.isVisible())
    assert gc.isenabled()


def test_a_missing_window_library_is_named_with_the_install_line(monkeypatch, capsys):
    import ctypes.util

    from datakit_gui import app

    real = ctypes.util.find_library
    monkeypatch.setattr(app.sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(ctypes.util, "find_library",
                        lambda name: None if name == "xcb-keysyms" else real(name) or f"lib{name}.so")
    assert app.main([]) == 1
    err = capsys.readouterr().err
    assert "libxcb-keysyms1 is missing" in err and app.INSTALL_LINE in err
    assert "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in app.INSTALL_LINE
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: f"lib{name}.so")
    monkeypatch.delenv("DISPLAY")
    assert app.main([]) == 1
    assert "DISPLAY is not set" in capsys.readouterr().err
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert app.window_problem() is None
