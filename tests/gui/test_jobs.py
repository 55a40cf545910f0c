"""Validate, materialize, save, cancel and close through the window's actions."""
from __future__ import annotations

import shutil
import threading

import pytest

import datakit
from datakit_gui import coverage as cov
from datakit_gui.jobs import CANCELLED, MAIN, OK


def run_action(window, qtbot, name, signal, timeout=60000):
    with qtbot.waitSignal(signal, timeout=timeout):
        window.actions[name].trigger()


def test_validate_fills_report_and_heatmap(window, qtbot, demo_dataset, demo_experiment, dialog_log):
    assert window.actions["validate"].isEnabled()
    with qtbot.waitSignal(window.jobs.finished, timeout=60000) as finished:
        window.actions["validate"].trigger()
        assert window.job_status.bar.isVisible()          # progress shown while it runs
        assert window.actions["cancel"].isEnabled()
        assert not window.actions["validate"].isEnabled()  # one main job at a time
    assert finished.args[1] == OK
    report = window.state.report
    # every (cell, source) of the recorded cells, and the expected ones of cells never recorded
    unrecorded = demo_dataset.coverage().index.difference(demo_dataset.inventory.index)
    missing = demo_dataset.missing()
    extra = missing.set_index(["Subject", "Session", "Task"]).index.isin(unrecorded).sum()
    assert len(unrecorded) == 2 and extra > 0
    assert len(report) == len(demo_dataset) * len(demo_dataset.sources) + extra
    model = window.report.model
    assert model.rowCount() == len(report)
    counts = model.status_counts()
    errors = report[report["status"] == "error"]
    assert len(errors) == len(demo_experiment.broken) == 1, errors[["Source", "message"]].to_string()
    assert counts["error"] == 1
    assert counts["missing"] == int(datakit.inspect_sources(demo_dataset)["missing"].sum()) == len(missing)
    assert counts["not expected"] == int((report["status"] == "missing").sum()) - len(missing)
    first = model.row_info(0)                          # errors sort first
    assert first["Status"] == "error" and "truncated" in first["Message"]
    broken = demo_experiment.broken[0]
    assert first["key"] == (broken.subject, broken.session, broken.task)
    window.report.status.setCurrentIndex(1)            # errors only
    assert model.rowCount() == 1
    window.report.status.setCurrentIndex(0)
    window.report.search.setText(broken.tag)
    qtbot.waitUntil(lambda: 1 <= model.rowCount() < len(report))   # after the typing pause
    assert all(model.row_info(r)["Source"] == broken.tag or broken.tag in model.row_info(r)["Path"]
               for r in range(model.rowCount()))
    window.report.search.clear()
    qtbot.waitUntil(lambda: model.rowCount() == len(report))
    # double-click on the error row selects its cell
    with qtbot.waitSignal(window.state.selection_changed):
        window.report.view.doubleClicked.emit(model.index(0, 2))
    assert window.state.selection == first["key"]
    assert window.state.selected_source == broken.tag
    assert window.actions["validate"].isEnabled() and not window.actions["cancel"].isEnabled()
    assert not dialog_log["errors"]()


def test_materialize_then_save_without_reloading(window, qtbot, demo_dataset, executor, tmp_path,
                                                  dialog_log):
    window.actions["save"].trigger() if window.actions["save"].isEnabled() else None
    assert not window.actions["save"].isEnabled()           # nothing materialized yet
    with qtbot.waitSignal(window.commands.message, timeout=60000,
                          check_params_cb=lambda text: text.startswith("Materialized")) as said:
        window.actions["materialize"].trigger()
    assert "; 1 file failed (left empty" in said.args[0]     # one broken file, said in English
    frame = window.state.frame
    assert frame.shape[0] == len(demo_dataset)
    assert frame.index.equals(demo_dataset.inventory.index)
    assert set(frame.columns.get_level_values(0)) <= set(demo_dataset.sources)
    assert (window.state.report["status"] == "error").sum() == 1   # failed files are reported
    assert window.actions["save"].isEnabled()
    submitted = executor.submitted
    for suffix in (".h5", ".pkl"):
        path = tmp_path / f"saved{suffix}"
        dialog_log["answers"]["ask_save_frame_path"] = str(path)
        with qtbot.waitSignal(window.jobs.finished, timeout=60000) as done:
            window.actions["save"].trigger()
        assert done.args[1] == OK and path.is_file()
        loaded = datakit.load_dataset(path, allow_pickle=True)
        assert loaded.shape == frame.shape
        assert loaded.index.equals(frame.index)
    assert executor.submitted == submitted                  # saving loaded nothing again
    assert not dialog_log["errors"]()


def test_save_with_bad_suffix_says_what_to_do(window, qtbot, tmp_path, dialog_log):
    run_action(window, qtbot, "materialize", window.state.frame_changed)
    dialog_log["answers"]["ask_save_frame_path"] = str(tmp_path / "frame.csv")
    assert window.commands.save() is False
    (_, args), = dialog_log["errors"]()
    assert ".h5" in args[1] and ".pkl" in args[1]


def test_materialize_runs_on_the_filtered_dataset(window, qtbot, demo_dataset):
    subject = demo_dataset.subjects[0]
    window.state.set_axis("subject", window.state.filters.subject.__class__("include", (subject,)))
    run_action(window, qtbot, "materialize", window.state.frame_changed)
    assert window.state.frame.index.equals(demo_dataset.include(subject=subject).inventory.index)


def test_cancel_mid_job_leaves_a_usable_window(window, qtbot, executor, dialog_log):
    executor.gate.clear()                                   # loads wait: the job stays mid-run
    with qtbot.waitSignal(window.jobs.finished, timeout=30000) as finished:
        window.actions["materialize"].trigger()
        qtbot.waitUntil(lambda: executor.submitted > 0)
        assert window.jobs.busy(MAIN)
        window.actions["cancel"].trigger()
    assert finished.args[1] == CANCELLED
    assert window.state.frame is None
    assert "cancelled" in window.job_status.message.text()
    assert not window.job_status.bar.isVisible()
    executor.gate.set()
    run_action(window, qtbot, "validate", window.state.report_changed)   # works again
    assert len(window.state.report)
    assert not dialog_log["errors"]()


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")   # ipykernel internals
def test_closing_during_a_job_cancels_and_waits(window, qtbot, executor, dialog_log):
    executor.gate.clear()
    window.actions["materialize"].trigger()     # (a validation may be all cached: no loads)
    qtbot.waitUntil(lambda: executor.submitted > 0)
    job = window.jobs.current(MAIN)
    window.show_console()
    assert window.console_dock.started
    window.close()                                          # no question asked
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30000)
    assert job.outcome == CANCELLED
    assert not window.jobs.running_jobs()
    assert not any(t.name.startswith("datakit-gui") for t in threading.enumerate())
    assert not window.console_dock.started                  # kernel shut down
    assert not dialog_log["errors"]()


def test_closing_does_not_wait_for_a_running_cell(qtbot, tmp_path, dialog_log):
    """The window's own pools: a cell still loading in a worker is abandoned on close
    (before, closing waited for every running cell: 12 s with long recordings)."""
    import time

    from PySide6.QtCore import QSettings

    from datakit_gui import MainWindow

    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                        workers=1)
    qtbot.addWidget(window)
    window.show()
    started = threading.Event()

    def long_cell(ctx):                 # a load that would take ten minutes in a worker
        future = ctx.executor.submit(time.sleep, 600)
        started.set()
        return future.result()

    job = window.jobs.submit("Materialize", long_cell, lane=MAIN)
    qtbot.waitUntil(started.is_set, timeout=30000)
    pool = window.jobs._executors[MAIN]
    qtbot.waitUntil(lambda: any(p.is_alive() for p in pool._processes.values()), timeout=30000)
    workers = list(pool._processes.values())
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30000)   # not after 600 s
    assert job.outcome == CANCELLED                    # what stopping it broke is no error
    assert not any(p.is_alive() for p in workers)
    assert not window.jobs.running_jobs()
    assert not dialog_log["errors"]()                  # closing is not an error to report


def test_refresh_rescans_and_keeps_results_of_unchanged_files(make_window, demo_root, tmp_path, qtbot):
    root = tmp_path / "copy"
    shutil.copytree(demo_root, root)
    window = make_window()
    with qtbot.waitSignal(window.state.dataset_changed, timeout=30000):
        window.open_roots([root])
    run_action(window, qtbot, "validate", window.state.report_changed)
    before = datakit.inspect_sources(window.state.dataset)
    ok_before = int((window.heatmap.coverage.codes == cov.OK).sum())
    victim = window.state.dataset.inventory["dataqueue"].dropna().iloc[0]
    (root / victim).unlink() if not victim.startswith("/") else __import__("os").unlink(victim)
    with qtbot.waitSignal(window.state.dataset_changed, timeout=30000):
        window.actions["refresh"].trigger()
    after = datakit.inspect_sources(window.state.dataset)
    assert after.loc["dataqueue", "present"] == before.loc["dataqueue", "present"] - 1
    ok_after = int((window.heatmap.coverage.codes == cov.OK).sum())
    assert ok_after == ok_before - 1                        # only the deleted file lost its result


def test_opening_a_missing_folder_reports_what_to_do(make_window, tmp_path, qtbot, dialog_log):
    window = make_window()
    with qtbot.waitSignal(window.jobs.finished, timeout=30000) as done:
        window.open_roots([tmp_path / "nowhere"])
    assert done.args[1] == "error"
    (_, args), = dialog_log["errors"]()
    title, message = args[0], args[1]
    assert "Discovery" in title and "nowhere" in message and "Open" in message
    assert window.state.dataset is None and window.centre.currentWidget() is window.welcome


@pytest.mark.parametrize("confirm", [False, True])
def test_opening_a_pickle_asks_first(window, qtbot, tmp_path, dialog_log, confirm):
    run_action(window, qtbot, "materialize", window.state.frame_changed)
    path = tmp_path / "frame.pkl"
    window.state.frame.to_pickle(path)
    window.state.set_frame(None)
    dialog_log["answers"]["confirm_pickle"] = confirm
    if confirm:
        with qtbot.waitSignal(window.state.frame_changed, timeout=30000):
            assert window.commands.open_saved(str(path))
        assert window.state.frame is not None
    else:
        assert window.commands.open_saved(str(path)) is False
        assert window.state.frame is None
    assert dialog_log["calls"][-1][0] == "confirm_pickle"
