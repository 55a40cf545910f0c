"""The Dataset API of api.txt: construction, filters, validate, materialize, provenance."""
from __future__ import annotations

import threading
import warnings

import numpy as np
import pandas as pd
import pytest

import datakit
from datakit.testing import assert_frames_equal
from util import (CONFIG_CSV, NOTES_TXT, TIMESTAMPS_CSV, TREADMILL_CSV, session_dir, stem,
                  tiny_dataqueue, write)

SUBJECTS = ("A01", "B02")
TASKS = ("widefield", "gratings")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """2 subjects x 2 sessions x 2 tasks of small, valid files (+ one broken file)."""
    root = tmp_path_factory.mktemp("tree")
    for sub in SUBJECTS:
        for ses in ("01", "02"):
            for task in TASKS:
                s, d = stem(sub, ses, task), session_dir(sub, ses)
                write(root, f"{d}/{s}_configuration.csv", CONFIG_CSV)
                write(root, f"{d}/{s}_notes.txt", NOTES_TXT)
                write(root, f"{d}/{s}_timestamps.csv", TIMESTAMPS_CSV)
                write(root, f"{d}/beh/{s}_dataqueue.csv", tiny_dataqueue(encoder=task == "widefield"))
                if task == "gratings":
                    write(root, f"{d}/beh/{s}_treadmill.csv", TREADMILL_CSV)
    # one broken file: wrong header
    write(root, f"{session_dir('B02', '02')}/{stem('B02', '02', 'gratings')}_configuration.csv",
          "Name,Setting\nx,1\n")
    return root


@pytest.fixture(scope="module")
def ds(tree):
    return datakit.Dataset.from_directory(tree)


def test_constructor_checks():
    with pytest.raises(TypeError):
        datakit.Dataset([1, 2])
    with pytest.raises(ValueError, match="MultiIndex"):
        datakit.Dataset(pd.DataFrame({"notes": ["x"]}))
    four = pd.DataFrame({"notes": ["x"]}, index=pd.MultiIndex.from_tuples([("a", "b", "c", "d")]))
    with pytest.raises(ValueError, match="2 or 3 levels"):
        datakit.Dataset(four)
    inv = pd.DataFrame({"notes": ["x"], "custom": ["y"]},
                       index=pd.MultiIndex.from_tuples([("a", "ses-1")], names=["s", "t"]))
    ds = datakit.Dataset(inv)
    assert ds.sources == ("notes",)            # non-registry columns are ignored
    assert ds.inventory.index.names == ["Subject", "Session"]
    with pytest.raises(KeyError, match="Unknown source"):
        datakit.Dataset(inv, sources=["nope"])
    assert datakit.Dataset(inv, sources=["timestamps"]).sources == ("timestamps",)


def test_properties(ds):
    assert len(ds) == 8
    assert ds.subjects == ["A01", "B02"]
    assert ds.sessions == ["ses-01", "ses-02"]
    assert ds.tasks == ["task-gratings", "task-widefield"]
    assert ds.has_task_level
    assert set(ds.sources) == {"dataqueue", "notes", "session_config", "timestamps", "treadmill"}
    assert repr(ds) == "Dataset(rows=8, sources=5, task_level=True)"
    inv = ds.inventory
    inv.iloc[0, 0] = "changed"
    assert ds.inventory.iloc[0, 0] != "changed"   # a copy


def test_include_and_exclude(ds):
    one = ds.include(subject="A01")
    assert set(one.subjects) == {"A01"} and len(one) == 4
    assert len(ds.include(subject=["A01", "B02"], session="ses-01", task="task-widefield")) == 2
    assert len(ds.include(subject="A01").include(task="task-gratings")) == 2
    assert ds.include(source=["notes", "nope_not_in_inventory_but_registered"][:1]).sources == ("notes",)
    assert len(ds.include(subject="ZZZ")) == 0
    with pytest.raises(KeyError):
        ds.include(source="not_a_source")
    with pytest.raises(TypeError):
        ds.include(subject=5)
    assert len(ds.include(subject={"A01"})) == 4          # any iterable of str
    # exclude: rows, sources, NaN-out
    assert len(ds.exclude(subject="A01")) == 4
    assert "notes" not in ds.exclude(source="notes").sources
    blanked = ds.exclude(subject="A01", source="notes")
    assert len(blanked) == 8 and blanked.sources == ds.sources
    inv = blanked.inventory
    assert inv.xs("A01", level="Subject")["notes"].isna().all()
    assert inv.xs("B02", level="Subject")["notes"].notna().all()
    assert inv.xs("A01", level="Subject")["session_config"].notna().all()
    assert len(ds.exclude()) == len(ds)                  # no filter excludes nothing
    # the original never changes
    assert ds.inventory["notes"].notna().all() and len(ds) == 8


def test_task_filter_without_task_level_is_an_error(tree):
    # one row per session: the tasks of a session claim one cell (and are reported as such)
    with pytest.warns(datakit.ConflictWarning, match="lost to another file"):
        flat = datakit.Dataset.from_directory(tree, include_task_level=False)
    with pytest.raises(ValueError, match="no Task level"):
        flat.include(task="task-widefield")


def test_head_and_select(ds):
    assert len(ds.head()) == 3 and len(ds.head(0)) == 0 and ds.head(2).sources == ds.sources
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(ValueError):
            ds.head(bad)
    one = ds.select("A01", "ses-01", "task-widefield")
    assert one.inventory.index.tolist() == [("A01", "ses-01", "task-widefield")]
    with pytest.raises(KeyError):
        ds.select("A01", "ses-09", "task-widefield")
    with pytest.raises(ValueError, match="2 rows match"):
        ds.select("A01", "ses-01")
    with pytest.raises(TypeError, match="include"):
        ds.select(["A01"], "ses-01")


def test_notes_survive_filters_and_reach_attrs(ds):
    d = ds.include(subject="A01")
    assert d.add_note("first look") is d
    with pytest.raises(TypeError):
        d.add_note(3)
    chained = d.exclude(source="dataqueue").head(1)
    assert chained.notes == ["first look"]
    assert ds.notes == []
    df = chained.materialize(workers=1)
    assert df.attrs["datakit_notes"] == ["first look"]


def test_meta_and_version():
    meta = datakit.build_meta()
    for key in ("package", "version", "python", "platform", "built_at"):
        assert key in meta
    assert meta["package"] == "datakit"
    assert isinstance(datakit.get_version(), str) and datakit.get_version()
    assert not datakit.get_version().startswith("0.0.0+unknown")  # a checkout or an install


def test_inspect_sources(ds):
    cov = datakit.inspect_sources(ds)
    assert cov.index.name == "source"
    assert list(cov.columns) == ["present", "total", "missing", "not_expected", "coverage"]
    assert cov.loc["notes", "present"] == 8 and cov.loc["notes", "coverage"] == 1.0
    assert cov.loc["treadmill", "present"] == 8   # dataqueue (widefield) or CSV (gratings)
    assert (cov["present"] + cov["missing"] + cov["not_expected"] == cov["total"]).all()
    raw = datakit.inspect_sources(ds.inventory, sources=["notes", "wheel"])
    # no file anywhere and nothing declares it: absent, but not missing
    assert raw.loc["wheel"].tolist() == [0, 8, 0, 8, 0.0]
    empty = datakit.inspect_sources(pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=["a", "b"])))
    assert empty.empty
    with pytest.raises(TypeError):
        datakit.inspect_sources([1])


def test_validate_layout_and_statuses(ds):
    report = ds.validate(workers=1)
    assert list(report.columns) == ["Subject", "Session", "Task", "Source", "status", "path",
                                    "error_type", "message", "traceback", "cached", "expected"]
    assert len(report) == 8 * len(ds.sources)
    assert set(report["status"]) == {"ok", "error"}
    err = report[report.status == "error"]
    assert err[["Subject", "Session", "Task", "Source"]].values.tolist() == [
        ["B02", "ses-02", "task-gratings", "session_config"]]
    assert "Parameter" in err["message"].iloc[0] and err["error_type"].iloc[0] == "ValueError"
    assert "Traceback" in err["traceback"].iloc[0]
    # dependency order: dataqueue before the sources that need it, within each cell
    first_cell = report[report.Subject == "A01"].head(len(ds.sources))["Source"].tolist()
    assert first_cell.index("dataqueue") < first_cell.index("treadmill")
    blanked = ds.exclude(subject="A01", source="notes").validate(workers=1)
    missing = blanked[blanked.status == "missing"]
    assert set(missing["Source"]) == {"notes"} and missing["path"].isna().all()


def test_materialize_strict_and_lenient(ds):
    with pytest.raises(datakit.LoadError) as info:
        ds.materialize(workers=1)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, RuntimeError)
    assert (err.subject, err.session, err.task, err.source) == ("B02", "ses-02", "task-gratings", "session_config")
    text = str(err)
    for part in ("B02", "ses-02", "task-gratings", "session_config", err.path):
        assert part in text
    df, errors = ds.materialize(strict=False, return_errors=True, workers=1)
    assert df.shape[0] == 8
    assert list(df.columns.names) == ["Source", "Feature"]
    assert pd.isna(df.loc[("B02", "ses-02", "task-gratings"), ("session_config", "duration")])
    assert df.loc[("A01", "ses-01", "task-widefield"), ("session_config", "duration")] == 1200
    assert (errors.status == "error").sum() == 1
    assert df.attrs["datakit_sources"] == list(df.columns.get_level_values(0).unique())
    assert df.attrs["datakit_roots"] == [str(r) for r in ds.roots]
    assert df.attrs["datakit"]["package"] == "datakit"


def test_materialized_cells_have_stable_types(ds):
    df = ds.exclude(subject="B02").materialize(workers=1)
    for key in df.index:
        for tag in ("treadmill", "dataqueue", "notes"):
            t = df.loc[key, (tag, "time_elapsed_s")]
            assert isinstance(t, np.ndarray) and t.ndim == 1 and np.all(np.diff(t) > 0)
            for feature in df[tag].columns:
                value = df.loc[key, (tag, feature)]
                if feature == "meta":
                    assert isinstance(value, dict) and value["time_basis"]
                else:
                    assert isinstance(value, np.ndarray) and value.shape == t.shape, (tag, feature)
    # a constant column is still an array
    speeds = df.loc[("A01", "ses-01", "task-gratings"), ("treadmill", "timestamp")]
    assert isinstance(speeds, np.ndarray)


def test_materialize_is_deterministic_and_parallel_equals_serial(ds):
    good = ds.exclude(subject="B02", session="ses-02")
    serial = good.materialize(workers=1)
    again = good.materialize(workers=1)
    processes = good.materialize(workers=2)
    threads = good.materialize(workers=2, parallel="thread")
    for other in (again, processes, threads):
        assert_frames_equal(serial, other, check_attrs=False)


def test_progress_callable_and_bar(ds, capsys):
    seen = []
    ds.validate(workers=1, progress=lambda done, total, msg: seen.append((done, total, msg)),
                use_cache=False)
    total = len(ds) * len(ds.sources)
    assert [d for d, _, _ in seen] == list(range(1, total + 1))
    assert all(t == total for _, t, _ in seen) and all(m for _, _, m in seen)
    pooled = []
    ds.validate(workers=2, progress=lambda d, t, m: pooled.append(d), use_cache=False)
    assert pooled[-1] == total and pooled == sorted(pooled)
    # validated before: the unchanged pairs count at once, nothing is loaded
    again = []
    ds.validate(workers=1, progress=lambda d, t, m: again.append((d, t, m)))
    assert again[-1][:2] == (total, total) and "unchanged" in again[0][2]
    ds.head(1).validate(workers=1, progress=True)
    assert "load" in capsys.readouterr().err
    with pytest.raises(TypeError):
        ds.validate(progress="yes")


def test_cancel_stops_between_files(ds):
    event = threading.Event()
    event.set()
    with pytest.raises(datakit.Cancelled):
        ds.materialize(workers=1, cancel=event)
    later = threading.Event()
    counts = []

    def progress(done, total, msg):
        counts.append(done)
        if done == 3:
            later.set()

    with pytest.raises(datakit.Cancelled):
        ds.validate(workers=1, progress=progress, cancel=later, use_cache=False)
    assert counts[-1] == 3
    with pytest.raises(datakit.Cancelled):
        ds.validate(workers=2, cancel=event)


def test_bad_workers_argument(ds):
    with pytest.raises(ValueError):
        ds.validate(workers=0)


def test_save_refuses_unknown_format_before_loading(ds, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("materialize must not run")

    monkeypatch.setattr(datakit.Dataset, "materialize", boom)
    with pytest.raises(ValueError, match=".csv"):
        ds.save(tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_save_and_load_round_trip(ds, tmp_path):
    good = ds.exclude(subject="B02")
    df = good.materialize(workers=1)
    for name in ("out.pkl", "out.h5", "noext"):
        path = good.save(tmp_path / name, workers=1)
        back = datakit.load_dataset(path) if path.suffix else pd.read_pickle(path)
        assert_frames_equal(df, back, check_attrs=False)
        assert back.attrs["datakit_sources"] == df.attrs["datakit_sources"]
    with pytest.raises(FileNotFoundError):
        datakit.load_dataset(tmp_path / "missing.pkl")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValueError, match=".txt"):
        datakit.load_dataset(tmp_path / "x.txt")


def test_load_one_shot(tree):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        df, errors = datakit.load(tree, strict=False, return_errors=True, progress=False, workers=1)
    assert df.shape[0] == 8 and (errors.status == "error").sum() == 1


SCRIPT = """
import datakit, warnings
warnings.simplefilter("ignore", datakit.ConflictWarning)
print("script body ran")
ds = datakit.Dataset.from_directory({root!r})
print("rows", len(ds.materialize(workers=2, strict=False)))
"""


@pytest.mark.parametrize("how", ["file", "stdin"])
def test_unguarded_script_is_not_rerun_by_worker_processes(tree, tmp_path, how):
    import subprocess
    import sys

    code = SCRIPT.format(root=str(tree))
    if how == "file":
        script = tmp_path / "analysis.py"
        script.write_text(code)
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    else:
        out = subprocess.run([sys.executable, "-"], input=code, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("script body ran") == 1
    assert "rows 8" in out.stdout
    assert "Traceback" not in out.stderr


RACE = """
import sys, threading
from datakit.engine import make_executor
print("script body ran", flush=True)
errors = []
def work():
    try:
        for _ in range(15):          # fresh pools: every submit may start a worker
            pool = make_executor(3)
            assert [f.result(timeout=60) for f in [pool.submit(abs, -i) for i in range(4)]] == [0, 1, 2, 3]
            pool.shutdown()
    except BaseException as exc:
        errors.append(type(exc).__name__)
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print("errors", errors, "spec", sys.modules["__main__"].__spec__)
"""


def test_pools_started_from_several_threads_never_rerun_the_script(tmp_path):
    """The app submits from two threads: the __main__ spec is set under a lock (without it,
    about one run in three re-ran this script in a worker and broke a pool)."""
    import subprocess
    import sys

    script = tmp_path / "threads.py"
    script.write_text(RACE)
    for _ in range(2):
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        assert out.stdout.count("script body ran") == 1, out.stdout
        assert "errors [] spec None" in out.stdout          # and __main__ as it was


def test_python_still_reruns_an_unguarded_script_in_workers(tmp_path):
    """Why the engine sets ``__main__.__spec__`` while a pool starts workers: a plain pool
    re-runs the script in each worker.  When this fails, Python stopped doing that and
    ``engine._main_not_reimported`` can go (README, Workarounds)."""
    import subprocess
    import sys

    script = tmp_path / "plain.py"
    script.write_text("from datakit.engine import make_executor\n"
                      "print('script body ran', flush=True)\n"
                      "pool = make_executor(1, reimport_main=True)\n"
                      "try:\n    pool.submit(abs, -1).result(timeout=60)\n"
                      "except Exception as exc:\n    print('pool broke:', type(exc).__name__)\n"
                      "pool.shutdown()\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.stdout.count("script body ran") >= 2, (out.stdout, out.stderr)


def test_executor_niceness_lowers_worker_priority():
    import os

    from datakit.engine import make_executor

    base = os.nice(0)
    pool = make_executor(1, "process", niceness=7)
    try:
        assert pool.submit(os.nice, 0).result(timeout=60) == min(base + 7, 19)
    finally:
        pool.shutdown()
