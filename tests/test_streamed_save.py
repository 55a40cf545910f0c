"""Dataset.save to HDF5 writes each cell as it loads: equal to materialize, never the
whole frame in memory, atomic, cancellable, with progress that covers the writing."""
from __future__ import annotations

import concurrent.futures as cf
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import datakit
from datakit import engine, hdf5, io
from datakit.demo import generate
from datakit.errors import Cancelled
from datakit.testing import assert_frames_equal, example_frame

h5py = pytest.importorskip("h5py")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("streamed")
    generate(root, subjects=1, sessions=1, duration=20, missing=False, broken=False)
    ds = datakit.Dataset.from_directory(root, cache=False)
    return ds, ds.materialize(workers=1)


def temps(folder: Path) -> list[str]:
    return [p.name for p in Path(folder).iterdir() if p.name.endswith(io.TEMP_SUFFIX)]


def header(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        return json.loads(f["dataset/header"][()].tobytes())


class ReverseExecutor(cf.Executor):
    """Finishes the cells last submitted first, one at a time (a slow first cell)."""

    def __init__(self, expected: int):
        self.expected, self.calls = expected, []

    def submit(self, fn, /, *args, **kwargs):
        future = cf.Future()
        self.calls.append((future, fn, args, kwargs))
        if len(self.calls) == self.expected:
            threading.Thread(target=self._finish, daemon=True).start()
        return future

    def _finish(self):
        for future, fn, args, kwargs in reversed(self.calls):
            future.set_result(fn(*args, **kwargs))
            time.sleep(0.05)


# ------------------------------------------------------------------ what is written

def test_streamed_save_loads_back_equal_to_materialize(demo, tmp_path):
    ds, df = demo
    path = ds.save(tmp_path / "in-order.h5", workers=1)
    assert_frames_equal(df, datakit.load_dataset(path), check_attrs=False)
    assert "row_order" not in header(path)           # cells came in the frame's order
    back = datakit.load_dataset(path)
    assert back.attrs["datakit_sources"] == df.attrs["datakit_sources"]
    assert back.attrs["datakit_roots"] == df.attrs["datakit_roots"]


def test_cells_finishing_out_of_order_are_put_back_in_order(demo, tmp_path):
    ds, df = demo
    executor = ReverseExecutor(len(ds))
    path = ds.save(tmp_path / "reversed.h5", executor=executor)
    assert header(path)["row_order"]                 # stored last cell first
    assert_frames_equal(df, datakit.load_dataset(path), check_attrs=False)
    saved = datakit.open_dataset(path)
    for i in range(len(df)):
        assert_frames_equal(df.iloc[[i]], saved.cell(df.index[i]), check_attrs=False)


def test_a_process_pool_save_equals_materialize(demo, tmp_path):
    ds, df = demo
    path = ds.save(tmp_path / "pool.h5", workers=2)
    assert_frames_equal(df, datakit.load_dataset(path), check_attrs=False)


def test_frame_writer_rows_in_any_order(tmp_path):
    df = example_frame(5, 200, seed=4)
    writer = hdf5.FrameWriter(tmp_path / "rows.h5")
    for position in (3, 0, 4, 2, 1):
        row = df.iloc[position]
        writer.add_row(position, df.index[position], list(row.items()))
    writer.finish(df.index, df.columns, df.attrs)
    assert_frames_equal(df, datakit.load_dataset(tmp_path / "rows.h5"))


def test_the_whole_frame_is_never_built(demo, tmp_path, monkeypatch):
    ds, df = demo
    monkeypatch.setattr(engine, "features_frame", lambda *a, **k: pytest.fail("frame built"))
    monkeypatch.setattr(datakit.Dataset, "materialize", lambda *a, **k: pytest.fail("materialized"))
    kept = []
    real_run = engine.run

    def run(*args, **kwargs):
        results = real_run(*args, **kwargs)
        kept.extend(results)
        return results

    monkeypatch.setattr(engine, "run", run)
    path = ds.save(tmp_path / "x.h5", workers=1)
    assert kept and all(r.features == {} for r in kept)     # outcomes only were kept
    assert {o.status for r in kept for o in r.outcomes} == {"ok", "missing"}
    assert datakit.open_dataset(path).shape == df.shape


def test_engine_hands_each_result_over_once(demo):
    ds, _ = demo
    tasks, _ = ds._tasks(engine.MATERIALIZE)
    for workers, parallel in ((1, "process"), (2, "thread")):
        seen = []
        results = engine.run(tasks, workers=workers, parallel=parallel,
                             on_result=lambda r: seen.append((r.position, bool(r.features))))
        assert sorted(seen) == [(t.position, True) for t in tasks]
        assert [r.position for r in results] == [t.position for t in tasks]
        assert all(r.features == {} and r.outcomes for r in results)


def test_workers_encode_cells_for_the_writer(demo):
    """finish= runs where the cell loaded: a save's workers hand over encoded cells."""
    from datakit.hdf5.encode import Encoded
    from datakit.saving import encode_features

    ds, df = demo
    tasks, _ = ds._tasks(engine.MATERIALIZE)
    for workers, parallel in ((1, "process"), (2, "process")):
        kinds = set()
        engine.run(tasks, workers=workers, parallel=parallel, finish=encode_features,
                   on_result=lambda r: kinds.update(type(v) for f in r.features.values()
                                                    for v in f.values()))
        assert kinds == {Encoded}


@pytest.mark.parametrize("value", [
    np.array([{"x": 1.5, "y": 2, "c": "a"}, {"x": -3.0, "y": 4, "c": None}], dtype=object),
    np.array([{"x": 1.5}, {"x": float("nan")}], dtype=object),          # NaN: tagged
    np.array([{"x": 1}, {"y": 2}], dtype=object),                        # other keys
    np.array([{"x": 2**70}, {"x": 1}], dtype=object),                   # beyond int64
    np.array([{"__datakit__": "nd", "v": 1}], dtype=object),            # a tag-like key
    {"a": 1.0, "b": "text", "c": None, "d": True}, {"a": float("inf")}, {"a": (1, 2)},
], ids=["records", "nan", "keys", "bigint", "tag-key", "dict", "inf", "tuple"])
def test_plain_records_and_dicts_round_trip_exactly(value):
    from datakit import tagged_json
    from datakit.testing import values_difference

    assert values_difference(value, tagged_json.loads(tagged_json.dumps(value))) is None


# ------------------------------------------------------------------------- progress

@pytest.mark.parametrize("suffix", [".h5", ".pkl"])
def test_progress_covers_the_writing(demo, tmp_path, suffix):
    ds, _ = demo
    target = tmp_path / f"x{suffix}"
    calls = []

    def progress(done, total, message):
        calls.append((done, total, message, target.exists()))

    ds.save(target, workers=1, progress=progress)
    loads = sum(len(t.active) for t in ds._tasks(engine.MATERIALIZE)[0])
    assert {total for _, total, _, _ in calls} == {loads + 1}
    done = [d for d, _, _, _ in calls]
    assert done == sorted(done) and done[-1] == loads + 1
    last_before = [c for c in calls if c[0] < loads + 1]
    assert not any(exists for *_, exists in last_before)      # not complete before the file is
    assert calls[-1][3] and "wrote" in calls[-1][2]
    assert any("writing" in m for _, _, m, _ in calls)


def test_save_frame_reports_progress_per_column(tmp_path):
    df = example_frame(2, 50)
    calls = []
    io.save_frame(df, tmp_path / "x.h5", progress=lambda d, t, m: calls.append((d, t)))
    assert calls == [(j + 1, df.shape[1]) for j in range(df.shape[1])]


# ------------------------------------------------------------- failures and cancel

def test_a_failure_mid_save_keeps_the_previous_file(demo, tmp_path, monkeypatch):
    ds, df = demo
    target = tmp_path / "x.h5"
    io.save_frame(example_frame(2, 10), target)
    before = target.read_bytes()
    rows = []
    real = hdf5.FrameWriter.add_row

    def full_disk(self, *args):
        rows.append(args[0])
        if len(rows) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args)

    monkeypatch.setattr(hdf5.FrameWriter, "add_row", full_disk)
    with pytest.raises(OSError) as info:
        ds.save(target, workers=1)
    assert info.value.errno == errno.ENOSPC and str(target) in str(info.value)
    assert target.read_bytes() == before and temps(tmp_path) == []


def test_cancel_mid_save_keeps_the_previous_file(demo, tmp_path):
    ds, _ = demo
    target = tmp_path / "x.h5"
    io.save_frame(example_frame(2, 10), target)
    before = target.read_bytes()
    cancel = threading.Event()

    def progress(done, total, message):
        if done >= 3:
            cancel.set()

    with pytest.raises(Cancelled):
        ds.save(target, workers=1, progress=progress, cancel=cancel)
    assert target.read_bytes() == before and temps(tmp_path) == []


def test_a_broken_file_with_strict_leaves_nothing(tmp_path):
    root = tmp_path / "exp"
    exp = generate(root, subjects=1, sessions=1, tasks=("widefield",), duration=20,
                   missing=False, broken=True)
    ds = datakit.Dataset.from_directory(root, cache=False)
    with pytest.raises(datakit.LoadError) as info:
        ds.save(tmp_path / "x.h5", workers=1)
    assert info.value.source == exp.broken[0].tag
    assert [p.name for p in tmp_path.iterdir()] == ["exp"]
    path, report = ds.save(tmp_path / "x.h5", workers=1, strict=False, return_errors=True)
    failed = report[report.status == "error"]
    assert len(failed) == 1
    back = datakit.load_dataset(path)
    assert back.filter(like=failed.Source.iloc[0]).isna().all().all()


def test_ctrl_c_in_the_last_step_keeps_the_previous_file(demo, tmp_path, monkeypatch):
    """A real SIGINT while the header is written: the save stops before the rename."""
    ds, _ = demo
    target = tmp_path / "x.h5"
    io.save_frame(example_frame(2, 10), target)
    before = target.read_bytes()
    real = hdf5.FrameWriter.finish

    def finish(self, *args):
        os.kill(os.getpid(), signal.SIGINT)     # handled between two bytecodes from here on
        return real(self, *args)

    monkeypatch.setattr(hdf5.FrameWriter, "finish", finish)
    with pytest.raises(KeyboardInterrupt):
        ds.save(target, workers=1)
    assert target.read_bytes() == before and temps(tmp_path) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # put back


def test_bad_targets_are_refused_before_anything_loads(demo, tmp_path, monkeypatch):
    ds, _ = demo
    monkeypatch.setattr(engine, "run", lambda *a, **k: pytest.fail("loading started"))
    (tmp_path / "folder.h5").mkdir()
    with pytest.raises(IsADirectoryError, match="folder.h5"):
        ds.save(tmp_path / "folder.h5")
    with pytest.raises(ValueError, match=r"\.csv"):
        ds.save(tmp_path / "x.csv")
    with pytest.raises(ValueError, match="invalid hdf_key"):
        ds.save(tmp_path / "x.h5", hdf_key="no spaces")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match="file"):
        ds.save(tmp_path / "file" / "x.h5")


def test_a_read_only_folder_is_refused_before_anything_loads(demo, tmp_path, monkeypatch):
    ds, _ = demo
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:      # root writes anywhere a mode allows nothing: make it immutable
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("running as root without chattr: cannot make a read-only folder")
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o555)
        undo = None
    monkeypatch.setattr(engine, "run", lambda *a, **k: pytest.fail("loading started"))
    try:
        with pytest.raises(PermissionError) as info:
            ds.save(folder / "x.h5")
        assert str(folder / "x.h5") in str(info.value)
    finally:
        subprocess.run(undo) if undo else folder.chmod(0o755)
    assert list(folder.iterdir()) == []


def test_a_full_disk_during_a_real_write(demo, tmp_path):
    """The file-size limit makes the disk 'full' for the writing process (no monkeypatch)."""
    ds, df = demo
    target = tmp_path / "x.h5"
    io.save_frame(example_frame(2, 10), target)
    before = target.read_bytes()
    code = f"""
import resource, signal, sys, datakit
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)      # a failed write, not a killed process
resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, resource.RLIM_INFINITY))
ds = datakit.Dataset.from_directory({str(ds.roots[0])!r}, cache=False)
try:
    ds.save({str(target)!r}, workers=1)
except OSError as exc:
    print("OSError", exc.errno, exc)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith(f"OSError {errno.EFBIG}"), done.stdout + done.stderr
    assert str(target) in done.stdout
    assert target.read_bytes() == before and temps(tmp_path) == []


# ------------------------------------------------------------ the one workaround

CRASH = """
import resource, signal, numpy as np, h5py
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, resource.RLIM_INFINITY))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))               # no core file for the crash
f = h5py.File({path!r}, "w")
kept = []
try:
    for i in range(200):
        for k in range(4):
            d = f.create_dataset(f"c{{i}}/v{{k}}", shape=(0,), maxshape=(None,), dtype="f8",
                                 chunks=(4096,), compression="gzip", shuffle=True)
            d.resize((5000,))
            d[:] = np.arange(5000.0) * (i + k)
            kept.append(d)
except OSError:
    pass
try:
    f.close()
except Exception:
    pass
print("closed")
"""


def test_hdf5_still_crashes_closing_a_file_whose_writes_failed(tmp_path):
    """Why datakit's writer drops every write once a save is abandoned (README,
    "Workarounds"): plain h5py crashes here.  When this test fails, HDF5 closes such a
    file cleanly and ``datakit.hdf5.writer._File.abandoned`` can go."""
    done = subprocess.run([sys.executable, "-c", CRASH.format(path=str(tmp_path / "x.h5"))],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGSEGV, (
        f"plain h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version}) no longer crashes "
        f"closing a file after a failed write (exit {done.returncode}): the workaround in "
        "datakit.hdf5.writer._File may be removed, and its README entry")


def test_two_saves_to_one_target_at_once_leave_one_complete_file(demo, tmp_path):
    ds, df = demo
    target = tmp_path / "x.h5"
    one = ds.head(1)
    errors = []

    def save(dataset):
        try:
            dataset.save(target, workers=1)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(d,)) for d in (ds, one)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors and temps(tmp_path) == []
    loaded = datakit.load_dataset(target)
    assert loaded.shape[0] in (1, len(df))
    want = df if loaded.shape[0] == len(df) else one.materialize(workers=1)
    assert_frames_equal(want, loaded, check_attrs=False)


def test_starting_a_pool_leaves_the_sigint_handler_as_it_was():
    before = signal.getsignal(signal.SIGINT)
    pool = engine.make_executor(1)
    try:
        assert pool.submit(os.getpid).result(timeout=60) != os.getpid()
        assert signal.getsignal(signal.SIGINT) is before
        # the worker ignores Ctrl+C: its owner decides
        assert pool.submit(signal.getsignal, signal.SIGINT).result(timeout=60) == signal.SIG_IGN
    finally:
        pool.shutdown()
