"""50 validate / materialize / cancel runs through the window's job runner leak nothing."""
from __future__ import annotations

import gc
import threading

import psutil

from datakit_gui.jobs import CANCELLED, MAIN, OK

RUNS = 50


def _live_children(me: psutil.Process) -> set[int]:
    out = set()
    for child in me.children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                out.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return out


def test_fifty_jobs_through_the_window(window, qtbot, executor, dialog_log, capsys):
    me = psutil.Process()
    bar = window.job_status.bar
    # one warm-up of each kind, so the pool's workers exist before counting
    for name in ("validate", "materialize"):
        with qtbot.waitSignal(window.jobs.finished, timeout=60000):
            window.actions[name].trigger()
    threads = {t.ident for t in threading.enumerate()}
    children = _live_children(me)
    outcomes = {OK: 0, CANCELLED: 0}
    rss = []
    for i in range(RUNS):
        kind = ("validate", "materialize", "cancel")[i % 3]
        if kind == "cancel":
            executor.gate.clear()              # hold the loads so the job is mid-run
        with qtbot.waitSignal(window.jobs.finished, timeout=60000) as finished:
            window.actions["materialize" if kind == "cancel" else kind].trigger()
            assert bar.isVisible()
            if kind == "cancel":
                qtbot.waitUntil(lambda: window.jobs.busy(MAIN))
                window.actions["cancel"].trigger()
        executor.gate.set()
        outcome = finished.args[1]
        assert outcome == (CANCELLED if kind == "cancel" else OK), (i, kind, outcome)
        outcomes[outcome] += 1
        # nothing stuck: the bar is gone, the actions are back, no job is left
        qtbot.waitUntil(lambda: not bar.isVisible())
        assert window.actions["validate"].isEnabled() and not window.actions["cancel"].isEnabled()
        assert not window.jobs.running_jobs()
        qtbot.waitUntil(lambda: {t.ident for t in threading.enumerate()} <= threads, timeout=10000)
        assert _live_children(me) <= children, f"run {i} ({kind}) left processes"
        gc.collect()
        rss.append(me.memory_info().rss / 2**20)
    warm = sum(rss[5:10]) / 5
    last = sum(rss[-5:]) / 5
    with capsys.disabled():
        print(f"\n[GUI repeated jobs] {RUNS} runs {outcomes}; RSS after warm-up {warm:.0f} MB, "
              f"after {RUNS} runs {last:.0f} MB (growth {last - warm:+.0f} MB)")
    assert last - warm < 80, f"GUI memory grew from {warm:.0f} MB to {last:.0f} MB"
    assert not dialog_log["errors"]()
    # and the window still closes cleanly with a job running (materialize: a validation of
    # unchanged files would finish at once from the cache)
    executor.gate.clear()
    window.actions["materialize"].trigger()
    qtbot.waitUntil(lambda: window.jobs.busy(MAIN))
    job = window.jobs.current(MAIN)
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30000)
    assert job.outcome == CANCELLED and not window.jobs.running_jobs()
