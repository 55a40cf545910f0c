"""File > Export NWB…: the filtered selection, in the background, with progress and Cancel."""
from __future__ import annotations

import pytest

pytest.importorskip("pynwb")

from datakit_gui.filters import AxisFilter  # noqa: E402
from datakit_gui.jobs import CANCELLED, MAIN, OK  # noqa: E402


def _one_subject_session(window, demo_dataset):
    subject, session = demo_dataset.subjects[0], demo_dataset.sessions[0]
    window.state.set_axis("subject", AxisFilter("include", (subject,)))
    window.state.set_axis("session", AxisFilter("include", (session,)))
    return demo_dataset.include(subject=subject, session=session)


def test_export_nwb_writes_the_selection_in_the_background(window, qtbot, demo_dataset, tmp_path,
                                                           dialog_log):
    selection = _one_subject_session(window, demo_dataset)
    folder = tmp_path / "nwb"
    dialog_log["answers"]["ask_nwb_folder"] = str(folder)
    action = window.actions["exportNwb"]
    assert action.objectName() == "actionExportNwb" and action.isEnabled()
    progress = []
    window.jobs.progressed.connect(lambda job, done, total, message: progress.append((done, total)))
    with qtbot.waitSignal(window.jobs.finished, timeout=60000) as finished:
        action.trigger()
        assert window.jobs.busy(MAIN) and not action.isEnabled()      # one main job at a time
    assert finished.args[1] == OK, dialog_log["calls"]
    paths, report = window.commands.last_nwb_export
    assert len(paths) == len(selection) and all(p.is_file() for p in paths)
    assert {p.parent.parent for p in paths} == {folder}
    assert progress and progress[-1][0] == progress[-1][1] == len(selection)
    assert f"Exported {len(selection)} NWB files to {folder}" in window.statusBar().currentMessage()
    assert not dialog_log["errors"]()
    # again: the files exist, the app asks; "Cancel" leaves them as they were
    stamps = {p: p.stat().st_mtime_ns for p in paths}
    with qtbot.waitSignal(window.jobs.finished, timeout=60000):
        action.trigger()
    assert [c[0] for c in dialog_log["calls"]].count("confirm_overwrite_nwb") == 1
    assert {p: p.stat().st_mtime_ns for p in paths} == stamps
    # ... and "Yes" writes them again
    dialog_log["answers"]["confirm_overwrite_nwb"] = True
    with qtbot.waitSignal(window.jobs.finished, timeout=60000):
        action.trigger()
    qtbot.waitUntil(lambda: not window.jobs.busy(MAIN) and
                    all(p.stat().st_mtime_ns != stamps[p] for p in paths), timeout=60000)
    assert not dialog_log["errors"]()


def test_cancelling_an_export_leaves_no_partial_file(window, qtbot, demo_dataset, executor, tmp_path,
                                                     dialog_log):
    _one_subject_session(window, demo_dataset)
    folder = tmp_path / "nwb"
    dialog_log["answers"]["ask_nwb_folder"] = str(folder)
    executor.gate.clear()                       # the cells wait: the job stays mid-run
    with qtbot.waitSignal(window.jobs.finished, timeout=30000) as finished:
        window.actions["exportNwb"].trigger()
        qtbot.waitUntil(lambda: executor.submitted > 0)
        window.actions["cancel"].trigger()
    assert finished.args[1] == CANCELLED
    assert "NWB export cancelled" in window.statusBar().currentMessage()
    assert [p for p in folder.rglob("*") if p.is_file()] == []
    assert not dialog_log["errors"]()
    executor.gate.set()


def test_export_nwb_needs_a_selection(make_window, qtbot, dialog_log):
    window = make_window()
    assert not window.actions["exportNwb"].isEnabled()
    assert window.commands.export_nwb() is False
    assert "Open an experiment folder first" in window.statusBar().currentMessage()
    assert dialog_log["calls"] == []
