"""The per-user index: re-opens equal cold walks, validation re-reads only what changed,
a broken or busy cache never breaks anything."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
import warnings

import pandas as pd
import pytest

import datakit
from datakit import index as dkindex
from datakit.demo import generate
from util import stem, tiny_dataqueue, write


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache folder for this test (and the subprocesses it starts)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("DATAKIT_CACHE_DIR", str(folder))
    yield folder
    dkindex.shared(folder / dkindex.FILE_NAME).close()


def opened(root, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        return datakit.Dataset.from_directory(root, **kwargs)


def same(a, b) -> None:
    pd.testing.assert_frame_equal(a.inventory, b.inventory)
    pd.testing.assert_frame_equal(a.conflicts.reset_index(drop=True), b.conflicts.reset_index(drop=True))
    pd.testing.assert_frame_equal(a.skipped.reset_index(drop=True), b.skipped.reset_index(drop=True))


def age(path, seconds: float = 30) -> None:
    """Set a folder's or file's mtime in the past (as if the change was long ago)."""
    past = time.time() - seconds
    os.utime(path, (past, past))


def age_tree(root) -> None:
    for folder, dirs, _ in os.walk(root):
        for name in dirs:
            age(os.path.join(folder, name))
    age(root)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("index") / "exp", subjects=2, sessions=2,
                    duration=10.0, seed=11)


@pytest.fixture
def tree(demo, tmp_path):
    root = tmp_path / "exp"
    shutil.copytree(demo.root, root)
    age_tree(root)
    return root


def test_reopen_equals_a_cold_walk_through_adds_removes_and_renames(tree, cache):
    before = sorted(p.name for p in tree.rglob("*"))
    first = opened(tree)
    assert (cache / dkindex.FILE_NAME).is_file()
    again = opened(tree)
    same(first, again)
    assert sorted(p.name for p in tree.rglob("*")) == before       # the experiment is not written
    # changes deep in the tree: a file removed, one renamed, one added, a folder added
    notes = next(tree.rglob("*ses-01_task-movies_notes.txt"))
    notes.unlink()
    wheel = next(tree.rglob("*ses-02_task-movies_wheel.csv"))
    wheel.rename(wheel.with_name(wheel.name.replace("ses-02", "ses-03")))
    extra = tree / "data" / "sub-STREHAB07" / "ses-09"
    write(extra, stem("STREHAB07", "09", "movies") + "_notes.txt", "2025-07-06 16:11:17: x")
    write(tree / "processed" / "means", stem("STREHAB08", "01", "widefield")
          + "_mesoscope.ome_meso-mean-trace.csv", "Slice,Mean\n0,1\n")
    reopened = opened(tree)
    cold = opened(tree, cache=False)
    same(reopened, cold)
    assert ("STREHAB07", "ses-09", "task-movies") in cold.inventory.index
    renamed = wheel.with_name(wheel.name.replace("ses-02", "ses-03"))
    assert str(renamed) in set(cold.inventory["wheel"].dropna())
    assert str(wheel) not in set(reopened.inventory["wheel"].dropna())
    # a whole subject folder removed
    shutil.rmtree(tree / "data" / "sub-STREHAB08")
    same(opened(tree), opened(tree, cache=False))


def test_cache_false_neither_reads_nor_writes_the_index(tree, cache):
    opened(tree, cache=False)
    assert not (cache / dkindex.FILE_NAME).exists()
    ds = opened(tree, cache=False)
    ds.validate(workers=1)
    assert not (cache / dkindex.FILE_NAME).exists()


def test_a_dataqueue_growing_in_place_is_looked_into_again(tmp_path, cache):
    root = tmp_path / "exp"
    s = stem("A01", "01", "gratings")
    dq = write(root, f"data/sub-A01/ses-01/beh/{s}_dataqueue.csv", tiny_dataqueue(encoder=False))
    age_tree(root)
    assert "treadmill" not in opened(root).inventory.columns
    # the recording goes on: encoder packets are appended to the same file (no folder change)
    dq.write_text(tiny_dataqueue(encoder=True))
    age(dq.parent)
    assert opened(root).inventory.loc[("A01", "ses-01", "task-gratings"), "treadmill"] == str(dq)


def count_loads(monkeypatch):
    """Count DataSource.load calls (in this process: validate with workers=1)."""
    loaded = []
    for tag, cls in datakit.registered_sources().items():
        original = cls.load

        def load(self, path, *, context=None, _original=original, _tag=tag):
            loaded.append((_tag, str(path)))
            return _original(self, path, context=context)

        monkeypatch.setattr(cls, "load", load)
    return loaded


def test_revalidate_with_one_file_touched_loads_exactly_that_file(tree, cache, monkeypatch):
    ds = opened(tree)
    first = ds.validate(workers=1)
    assert not first["cached"].any()
    loaded = count_loads(monkeypatch)
    config = next(tree.rglob("*ses-01_task-gratings_configuration.csv"))
    os.utime(config, ns=(time.time_ns(), config.stat().st_mtime_ns + 1_000_000_000))
    again = opened(tree).validate(workers=1)
    assert loaded == [("session_config", str(config))]
    fresh = again[~again["cached"] & again["path"].notna()]
    assert list(fresh["path"]) == [str(config)]
    cached = again[again["cached"]]
    assert len(cached) == int(first["path"].notna().sum()) - 1
    # the outcomes are the same as a full run's
    full = opened(tree).validate(workers=1, use_cache=False)
    columns = ["Subject", "Session", "Task", "Source", "status", "path", "error_type", "message"]
    pd.testing.assert_frame_equal(again[columns], full[columns])
    assert not full["cached"].any() and len(loaded) > 1


def test_changed_dependency_settings_or_source_version_revalidate(tree, cache, monkeypatch):
    ds = opened(tree).include(subject="STREHAB07", session="ses-01")
    ds.validate(workers=1)
    loaded = count_loads(monkeypatch)
    dq = next(tree.rglob("*STREHAB07_ses-01_task-widefield_dataqueue.csv"))
    os.utime(dq, ns=(time.time_ns(), dq.stat().st_mtime_ns + 1_000_000_000))
    report = ds.validate(workers=1)
    widefield = report[(report["Task"] == "task-widefield") & report["path"].notna()].set_index("Source")
    # the dataqueue times every stream of its cell: all of them were checked again; the
    # configuration table does not depend on it
    assert not widefield.drop(index="session_config")["cached"].any()
    assert widefield.loc["session_config", "cached"]
    assert report[(report["Task"] != "task-widefield") & report["path"].notna()]["cached"].all()
    loaded.clear()
    monkeypatch.setattr(datakit.get_source_class("notes"), "version", "2")
    report = ds.validate(workers=1)
    assert {tag for tag, _ in loaded} >= {"notes"}
    assert not report[report["Source"] == "notes"]["cached"].any()
    other = datakit.Settings(devices=datakit.Devices(master_camera=("Dhyana", "hamamatsu")))
    report = opened(tree, settings=other).include(subject="STREHAB07", session="ses-01").validate(workers=1)
    assert not report["cached"].any()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_cache_is_rebuilt_with_a_warning(tree, cache, damage):
    reference = opened(tree)
    reference.validate(workers=1)
    path = cache / dkindex.FILE_NAME
    dkindex.shared(path).close()
    data = path.read_bytes()
    path.write_bytes({"garbage": os.urandom(4096), "truncated": data[: len(data) // 3],
                      "empty": b""}[damage])
    for suffix in ("-wal", "-shm"):
        (cache / (dkindex.FILE_NAME + suffix)).unlink(missing_ok=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reopened = opened(tree)
        report = reopened.validate(workers=1)
    same(reopened, reference)
    assert report["status"].equals(reference.validate(workers=1, use_cache=False)["status"])
    if damage != "empty":     # an empty file is a valid new database
        assert any(issubclass(w.category, dkindex.IndexWarning) and "rebuilding" in str(w.message)
                   for w in caught), [str(w.message) for w in caught]
    assert opened(tree).inventory.equals(reference.inventory)
    assert dkindex.Index(path).summary()["folders"] > 0          # usable again


def test_a_locked_cache_is_skipped_not_destroyed(tree, cache, monkeypatch):
    opened(tree)
    path = cache / dkindex.FILE_NAME
    dkindex.shared(path).close()
    monkeypatch.setattr(dkindex, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.warns(dkindex.IndexWarning, match="locked"):
            ds = datakit.Dataset.from_directory(tree)
        same(ds, opened(tree, cache=False))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    dkindex.shared(path).close()
    assert dkindex.Index(path).summary()["folders"] > 0           # still there, intact


def test_two_processes_opening_one_root_at_once(tree, cache):
    script = ("import sys, warnings, datakit\n"
              "warnings.simplefilter('error', datakit.index.IndexWarning)\n"
              "warnings.simplefilter('ignore', datakit.ConflictWarning)\n"
              "for _ in range(3):\n"
              "    ds = datakit.Dataset.from_directory(sys.argv[1])\n"
              "    ds.validate(workers=1)\n"
              "print(len(ds))\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tree)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    cold = opened(tree, cache=False)
    assert {int(o.strip()) for o, _ in outs} == {len(cold)}
    with warnings.catch_warnings():
        warnings.simplefilter("error", dkindex.IndexWarning)
        same(opened(tree), cold)
    rows = sqlite3.connect(cache / dkindex.FILE_NAME).execute("PRAGMA integrity_check").fetchall()
    assert rows == [("ok",)]


def test_nothing_changed_runs_no_load_on_any_executor(tree, cache):
    import concurrent.futures as cf

    ds = opened(tree)
    with cf.ThreadPoolExecutor(2) as pool:
        first = ds.validate(executor=pool)
        again = ds.validate(executor=pool)
    assert again["cached"].sum() == first["path"].notna().sum()
    assert again["status"].equals(first["status"])
