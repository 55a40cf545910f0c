"""Repeated and cancelled jobs leak nothing: threads, worker processes, memory, progress."""
from __future__ import annotations

import gc
import threading
import warnings

import psutil
import pytest

import datakit
from datakit.demo import generate

RUNS = 50


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("repeat")
    generate(root, subjects=2, sessions=1, tasks=("widefield", "gratings"), duration=15, seed=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        return datakit.Dataset.from_directory(root)


def _workers(me: psutil.Process) -> list[psutil.Process]:
    """Live child processes other than multiprocessing's two long-lived helpers
    (the fork server and the resource tracker, one each per session)."""
    out = []
    for child in me.children(recursive=True):
        try:
            helper = "from multiprocessing." in " ".join(child.cmdline())
            if not helper and child.status() != psutil.STATUS_ZOMBIE:
                out.append(child)
        except psutil.NoSuchProcess:
            continue
    return out


def test_fifty_validate_materialize_cancel_runs(dataset, capsys):
    me = psutil.Process()
    total = len(dataset) * len(dataset.sources)
    threads_before = threading.active_count()
    rss = []
    counts = {"validate": 0, "materialize": 0, "cancelled": 0}
    for i in range(RUNS):
        seen = []
        kind = ("validate", "materialize", "cancel")[i % 3]
        if kind == "cancel":
            event = threading.Event()

            def progress(done, total_, msg, event=event, seen=seen):
                seen.append(done)
                event.set()

            with pytest.raises(datakit.Cancelled):
                dataset.materialize(workers=2, strict=False, progress=progress, cancel=event)
            counts["cancelled"] += 1
        else:
            run = dataset.validate if kind == "validate" else dataset.materialize
            kwargs = {} if kind == "validate" else {"strict": False}
            result = run(workers=2, progress=lambda d, t, m, seen=seen: seen.append(d), **kwargs)
            assert seen[-1] == total                     # the bar reaches its end
            if kind == "validate":   # a report row per (cell, source), a frame row per cell
                cells = result.set_index(["Subject", "Session", "Task"]).index
                grid = cells.isin(dataset.inventory.index) & result["Source"].isin(dataset.sources)
                assert grid.sum() == total
                # and the expected pairs of cells never recorded, reported missing
                extra = result[~grid]
                assert (extra["status"] == "missing").all() and extra["expected"].all()
            else:
                assert result.shape[0] == len(dataset)
            counts[kind] += 1
        assert _workers(me) == [], f"run {i} ({kind}) left worker processes"
        assert threading.active_count() == threads_before, f"run {i} ({kind}) left threads"
        gc.collect()
        rss.append(me.memory_info().rss / 2**20)
    warm = sum(rss[5:10]) / 5
    last = sum(rss[-5:]) / 5
    with capsys.disabled():
        print(f"\n[repeated jobs] {counts}; RSS after warm-up {warm:.0f} MB, "
              f"after {RUNS} runs {last:.0f} MB (growth {last - warm:+.0f} MB)")
    assert last - warm < 60, f"memory grew from {warm:.0f} MB to {last:.0f} MB over {RUNS} runs"
