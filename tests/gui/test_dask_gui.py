"""The app's "Run jobs on a Dask scheduler at …" preference (issue 11, point 5).

Uses the session's one LocalCluster (``dask_client``); skipped without ``distributed``.
"""
from __future__ import annotations

import socket

import pytest

pytest.importorskip("distributed")

from datakit_gui.jobs import ERROR, MAIN, OK
from datakit_gui.preferences import Preferences


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _choose(window, qtbot, dialog_log, answer, outcome=OK):
    dialog_log["answers"]["ask_run_on"] = answer
    with qtbot.waitSignal(window.jobs.finished, timeout=60000) as finished:
        window.actions["runOn"].trigger()
    assert finished.args[1] == outcome


def test_validate_and_materialize_run_on_the_scheduler_chosen(window, qtbot, dialog_log,
                                                              dask_client, executor,
                                                              demo_dataset, tmp_path):
    dask_client.wait_for_workers(2, timeout=60)
    address = dask_client.scheduler.address
    assert window.jobs_where.text() == "Jobs: this computer"
    identity = f"{demo_dataset.roots[0]}={demo_dataset.roots[0]}"   # a path map, used as is
    _choose(window, qtbot, dialog_log, (True, address, [identity]))
    asked = [c for c in dialog_log["calls"] if c[0] == "ask_run_on"]
    assert asked == [("ask_run_on", (False, "", [], 2))]      # what the dialog was shown
    assert window.jobs_where.text() == f"Jobs: Dask {address} · 2 workers"
    assert f"the Dask scheduler at {address} (2 workers, 2 threads)" in window.jobs_where.toolTip()
    assert type(window.jobs.executor(MAIN)).__name__ == "ClientExecutor"

    submitted = executor.submitted                  # this computer's pool
    with qtbot.waitSignal(window.jobs.finished, timeout=60000) as finished:
        window.actions["validate"].trigger()
    assert finished.args[1] == OK and not dialog_log["errors"]()
    assert executor.submitted == submitted          # nothing was loaded here
    report = window.state.report
    local = demo_dataset.validate(workers=1, use_cache=False)
    key = ["Subject", "Session", "Task", "Source"]
    assert report.set_index(key)["status"].sort_index().equals(
        local.set_index(key)["status"].sort_index())
    with qtbot.waitSignal(window.jobs.finished, timeout=60000) as finished:
        window.actions["materialize"].trigger()
    assert finished.args[1] == OK and executor.submitted == submitted
    assert window.state.frame.shape == demo_dataset.materialize(strict=False, workers=1).shape

    # remembered: a new window (same settings file) runs on the same scheduler
    prefs = Preferences(window.prefs.settings)
    assert prefs.scheduler() == (True, address)
    assert prefs.path_map() == [identity]
    window.grab().save(str(tmp_path / "window-on-dask.png"))

    # back to this computer: the address is kept for next time, jobs load here again
    dialog_log["answers"]["ask_run_on"] = (False, address, [])
    window.actions["runOn"].trigger()
    assert window.jobs_where.text() == "Jobs: this computer"
    assert "this computer (2 worker processes)" in window.jobs_where.toolTip()
    assert Preferences(window.prefs.settings).scheduler() == (False, address)
    with qtbot.waitSignal(window.jobs.finished, timeout=60000) as finished:
        window.actions["materialize"].trigger()     # (validate would reuse the outcomes)
    assert finished.args[1] == OK and executor.submitted > submitted


def test_an_unreachable_scheduler_is_one_clear_error_and_loses_nothing(window, qtbot,
                                                                      dialog_log, executor):
    port = _free_port()
    _choose(window, qtbot, dialog_log, (True, f"127.0.0.1:{port}", []), outcome=ERROR)
    (_, (title, message, _details)), = dialog_log["errors"]()
    assert title == "Connect to the Dask scheduler failed"
    assert f"tcp://127.0.0.1:{port}" in message and "refused" in message
    assert "Data > Run Jobs On…" in message
    assert window.state.dataset is not None                 # the open experiment stays
    assert window.jobs_where.text() == f"Jobs: Dask 127.0.0.1:{port} (not connected yet)"
    # the next job says the same, and the user can go back to this computer
    with qtbot.waitSignal(window.jobs.finished, timeout=60000) as finished:
        window.actions["validate"].trigger()
    assert finished.args[1] == ERROR and len(dialog_log["errors"]()) == 2
    dialog_log["answers"]["ask_run_on"] = (False, "", [])
    window.actions["runOn"].trigger()
    with qtbot.waitSignal(window.jobs.finished, timeout=60000) as finished:
        window.actions["validate"].trigger()
    assert finished.args[1] == OK


def test_the_preference_dialog_checks_what_is_typed(qtbot, tmp_path):
    from datakit_gui.widgets.scheduler_dialog import SchedulerDialog

    dialog = SchedulerDialog(None, use=False, address="sched:8786", path_map=["Z:/lab=/mnt/lab"],
                             workers=4)
    qtbot.addWidget(dialog)
    assert dialog.local.isChecked() and not dialog.address.isEnabled()
    assert dialog.check() is None                     # this computer: nothing to check
    dialog.dask.setChecked(True)
    assert dialog.address.isEnabled() and dialog.path_map.isEnabled()
    for address, rules, fragment in [
        ("", "", "Give the scheduler's address"),
        ("local:0", "", "a local cluster needs at least 1 worker"),
        ("local:two", "", "expected local:N"),
        ("sched:", "", "the port is not a number"),
        ("sched:8786", "Z:/lab", "has no '='"),
        ("sched:8786", "Z:/lab=/mnt/lab\nraw=/mnt/raw", "'raw' is not an absolute path"),
    ]:
        dialog.address.setText(address)
        dialog.path_map.setPlainText(rules)
        dialog.accept()
        assert dialog.result() != dialog.DialogCode.Accepted
        assert dialog.problem.isVisibleTo(dialog) and fragment in dialog.problem.text(), address
    dialog.address.setText(" local:2 ")
    dialog.path_map.setPlainText("Z:/lab=/mnt/lab\n\n  //nas/raw=/mnt/raw ")
    dialog.accept()
    assert dialog.result() == dialog.DialogCode.Accepted
    assert dialog.values() == (True, "local:2", ["Z:/lab=/mnt/lab", "//nas/raw=/mnt/raw"])
