"""Saving and loading materialized frames: formats, HDF5 layout, atomicity, safety."""
from __future__ import annotations

import errno
import os
import pickle
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from util import one_column, plain_columns_frame

from datakit import hdf5, io
from datakit.errors import PickleRefused
from datakit.testing import assert_frames_equal, example_frame, frames_equal

h5py = pytest.importorskip("h5py")


def temps(folder: Path) -> list[str]:
    return [p.name for p in Path(folder).iterdir() if p.name.endswith(".datakit-tmp")]


# ----------------------------------------------------------------- format choice

@pytest.mark.parametrize("path, fmt, expected", [
    ("x.pkl", None, "pickle"), ("x.PICKLE", None, "pickle"), ("x", None, "pickle"),
    ("x.h5", None, "hdf5"), ("x.HDF5", None, "hdf5"), ("x.h5", "pickle", "pickle"),
    ("x.pkl", "HDF5", "hdf5"), ("x.dat", "h5", "hdf5"), ("x.csv", "Pkl", "pickle"),
])
def test_resolve_format(path, fmt, expected, tmp_path):
    target = tmp_path / "not" / "created" / path
    assert io.resolve_format(target, fmt) == expected
    assert not (tmp_path / "not").exists()


@pytest.mark.parametrize("path", ["x.csv", "x.parquet", "x.xyz"])
def test_resolve_format_refuses_other_suffixes(path):
    with pytest.raises(ValueError) as info:
        io.resolve_format(path)
    message = str(info.value)
    assert Path(path).suffix in message and ".pkl" in message and ".h5" in message


def test_resolve_format_refuses_unknown_format():
    with pytest.raises(ValueError, match="parquet"):
        io.resolve_format("x.h5", "parquet")


def test_csv_refused_before_anything_is_written(tmp_path):
    target = tmp_path / "sub" / "x.csv"
    with pytest.raises(ValueError, match=r"\.csv"):
        io.save_frame(example_frame(2, 50), target)
    assert not (tmp_path / "sub").exists()


def test_hdf5_with_other_suffix_via_format(tmp_path):
    df = example_frame(2, 100)
    path = io.save_frame(df, tmp_path / "x.dat", format="hdf5")
    assert path.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"
    assert_frames_equal(df, io.load_dataset(path, format="hdf5"))
    with pytest.raises(ValueError, match=r"\.dat"):
        io.load_dataset(path)


# ------------------------------------------------------------------- round trips

@pytest.mark.parametrize("suffix", [".pkl", ".h5"])
@pytest.mark.parametrize("task_level", [True, False])
def test_round_trip(tmp_path, suffix, task_level):
    df = example_frame(4, 2_000, task_level=task_level)
    path = io.save_frame(df, tmp_path / "deep" / "er" / f"frame{suffix}")
    assert path == (tmp_path / "deep" / "er" / f"frame{suffix}").resolve()
    back = io.load_dataset(path)
    assert_frames_equal(df, back)
    assert back.attrs["datakit_sources"] == df.attrs["datakit_sources"]
    assert temps(path.parent) == []


@pytest.mark.parametrize("suffix", [".pickle", ".hdf5"])
def test_round_trip_long_arrays(tmp_path, suffix):
    df = example_frame(2, 200_000)
    back = io.load_dataset(io.save_frame(df, tmp_path / f"big{suffix}"))
    assert_frames_equal(df, back)
    assert back.iloc[0][("dataqueue", "t")].shape == (200_000,)


def test_hdf5_round_trip_of_every_cell_kind(tmp_path):
    cells = [
        np.arange(5, dtype=np.int32), np.arange(4, dtype=np.uint32), np.array([True, False]),
        np.array([1.5, np.nan, -np.inf], dtype=np.float32), np.linspace(0, 1, 7),
        np.array(["2025-07-06T16:10:35.612865", "NaT"], dtype="datetime64[us]"),
        np.array([1, 2], dtype="datetime64[ns]"), np.array([3, 4], dtype="timedelta64[ms]"),
        np.array(["enc", None, "", "αβγ", "日本", "x\x00y"], dtype=object),
        np.array([["a", "b"], ["c", None]], dtype=object),
        np.arange(12, dtype=np.float64).reshape(3, 4), np.zeros((0, 3)), np.array([]),
        np.array(2.5), np.arange(3, dtype=">i4"), np.array(["ab", "c"]), np.array([b"x"]),
        np.array(["mixed", np.nan, 3], dtype=object),
        1, -(2**63), 2**80, 2.5, float("inf"), True, "text", "ünï", None, np.nan,
        np.float32(1.25), np.int64(7), np.uint8(3), np.bool_(False), np.float64("nan"),
        np.datetime64("2025-07-06T16:10", "m"), np.timedelta64(5, "s"),
        pd.Timestamp("2025-07-06 16:11:17"), pd.Timestamp("2025-07-06 16:11", tz="Europe/Paris"),
        pd.Timestamp("2025-07-06 16:11:17.123456789"), pd.NaT, pd.Timedelta(seconds=3),
        {"a": 1, "b": [1, (2, 3), None], "c": {"d": np.arange(3), "e": np.float32(2)}},
        {"nan": float("nan"), 1: "int key", "__datakit__": "tag-like key"},
        [1, 2.0, "3", None, [np.int16(4)]], (1, "a"), {"s", "t"}, b"raw", complex(1, -2),
    ]
    df = one_column(cells)
    back = io.load_dataset(io.save_frame(df, tmp_path / "kinds.h5"))
    assert_frames_equal(df, back)
    assert back.iloc[13, 0].shape == () and back.iloc[14, 0].dtype == np.dtype(">i4")


def test_hdf5_round_trip_of_column_and_index_kinds(tmp_path):
    df = plain_columns_frame()
    back = io.load_dataset(io.save_frame(df, tmp_path / "kinds.h5"))
    assert_frames_equal(df, back)
    ranged = pd.DataFrame({"x": [1.0, 2.0]})
    assert_frames_equal(ranged, io.load_dataset(io.save_frame(ranged, tmp_path / "r.h5")))


@pytest.mark.parametrize("df", [
    example_frame(3, 10).iloc[:0], example_frame(3, 10).iloc[:, :0], pd.DataFrame(),
], ids=["no-rows", "no-columns", "empty"])
def test_hdf5_round_trip_of_empty_frames(tmp_path, df):
    assert_frames_equal(df, io.load_dataset(io.save_frame(df, tmp_path / "e.h5")))


@pytest.mark.parametrize("cell", [pd.DataFrame({("a", "b"): [1]}), np.ma.masked_array([1, 2], [0, 1]),
                                  {"ok": 1, "bad": object()}], ids=["multiindex-frame", "masked", "object"])
def test_hdf5_refuses_cells_it_cannot_store_naming_the_cell(tmp_path, cell):
    df = one_column([np.arange(3), cell])
    with pytest.raises(TypeError, match=r"S1.*pickle"):
        io.save_frame(df, tmp_path / "x.h5")
    assert list(tmp_path.iterdir()) == []


def test_hdf5_key(tmp_path):
    df = example_frame(2, 10)
    path = io.save_frame(df, tmp_path / "x.h5", hdf_key="session_05")
    assert_frames_equal(df, io.load_dataset(path, hdf_key="session_05"))
    with pytest.raises(ValueError, match=r"'dataset'.*session_05"):
        io.load_dataset(path)
    with pytest.raises(ValueError, match="invalid hdf_key"):
        io.save_frame(df, tmp_path / "y.h5", hdf_key="bad key!")


json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=8),
    st.builds(np.float32, st.floats(width=32)), st.builds(np.int64, st.integers(-2**63, 2**63 - 1)),
    st.builds(lambda xs: np.array(xs), st.lists(st.floats(), max_size=5)),
)
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=5), inner, max_size=4)), max_leaves=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=st.lists(json_value, min_size=1, max_size=4))
def test_hdf5_round_trip_of_generated_cells(tmp_path_factory, cells):
    df = one_column(cells)
    path = io.save_frame(df, tmp_path_factory.mktemp("gen") / "g.h5")
    assert_frames_equal(df, io.load_dataset(path))


# ------------------------------------------------------------- the HDF5 layout

def walk(path):
    """(name, is a group, dtype, attribute names) of every node, read with h5py."""
    nodes = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, node: nodes.append(
            (name, isinstance(node, h5py.Group), getattr(node, "dtype", None),
             getattr(node, "ndim", None), list(node.attrs))))
    return nodes


def test_hdf5_file_holds_no_pickle(tmp_path):
    path = io.save_frame(example_frame(3, 1_000), tmp_path / "x.h5")
    nodes = walk(path)
    leaves = [n for n in nodes if not n[1]]
    assert leaves
    for name, is_group, dtype, ndim, attrs in nodes:
        assert attrs == [], name                  # no attribute at all, so none pickled
        if is_group:
            continue
        assert dtype.kind in "biufc" and dtype.fields is None and not dtype.hasobject, name
        assert ndim == 1, name


def test_hdf5_node_count_does_not_grow_with_rows(tmp_path):
    small = io.save_frame(example_frame(2, 100), tmp_path / "small.h5")
    large = io.save_frame(example_frame(60, 100), tmp_path / "large.h5")
    assert len(walk(small)) == len(walk(large))


def test_hdf5_arrays_are_compressed(tmp_path):
    df = one_column([np.zeros(200_000), np.arange(200_000, dtype=np.int64)])
    path = io.save_frame(df, tmp_path / "x.h5")
    assert path.stat().st_size < 200_000  # 3.2 MB of raw values
    with h5py.File(path) as f:
        values = f["dataset/c0/a0_values"]
        assert values.compression == "gzip" and values.shuffle
        assert values.chunks[0] * values.dtype.itemsize == hdf5.CHUNK_BYTES
        assert f["dataset/c0/tags"].compression is None      # small: stored plain


# ------------------------------------------------------------------- atomicity

def _fail_after_partial_write(tmp_file, exc):
    Path(tmp_file).write_bytes(b"partial")
    raise exc


@pytest.mark.parametrize("suffix", [".pkl", ".h5"])
def test_failed_save_keeps_previous_file_and_leaves_no_temp(tmp_path, monkeypatch, suffix):
    target = tmp_path / f"x{suffix}"
    first = example_frame(2, 100, seed=1)
    io.save_frame(first, target)
    before = target.read_bytes()
    calls = []

    def failing(*args, **kwargs):
        calls.append(args)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    if suffix == ".pkl":
        monkeypatch.setattr(io, "_write_pickle", lambda df, tmp: _fail_after_partial_write(
            tmp, OSError(errno.ENOSPC, "No space left on device")))
    else:  # the third dataset written fails as a full disk would
        real = hdf5.writer._Stream.close
        monkeypatch.setattr(hdf5.writer._Stream, "close", failing)
    with pytest.raises(OSError) as info:
        io.save_frame(example_frame(3, 100, seed=2), target)
    assert info.value.errno == errno.ENOSPC
    assert str(target) in str(info.value)
    assert target.read_bytes() == before
    assert temps(tmp_path) == []
    assert_frames_equal(first, io.load_dataset(target))


def test_interrupted_save_removes_temp(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "_write_pickle",
                        lambda df, tmp: _fail_after_partial_write(tmp, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        io.save_frame(example_frame(2, 10), tmp_path / "x.pkl")
    assert list(tmp_path.iterdir()) == []


def test_failed_replace_removes_temp(tmp_path, monkeypatch):
    def no_replace(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(io.os, "replace", no_replace)
    with pytest.raises(PermissionError, match="x.h5"):
        io.save_frame(example_frame(2, 10), tmp_path / "x.h5")
    assert list(tmp_path.iterdir()) == []


def test_stale_temps_are_cleaned(tmp_path):
    old = tmp_path / ".x.pkl.0badc0de.datakit-tmp"
    fresh = tmp_path / ".x.pkl.12345678.datakit-tmp"
    unrelated = [tmp_path / "keep.datakit-tmp", tmp_path / ".keep.tmp"]
    for p in [old, fresh, *unrelated]:
        p.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    for p in [old, *unrelated]:
        os.utime(p, (an_hour_ago, an_hour_ago))
    io.save_frame(example_frame(2, 10), tmp_path / "x.pkl")
    assert not old.exists()
    assert fresh.exists() and all(p.exists() for p in unrelated)
    assert io.cleanup_stale_temps(tmp_path, older_than_s=0) == [fresh]


def test_save_expands_user_and_refuses_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = io.save_frame(example_frame(2, 10), "~/out/x.pkl")
    assert path == tmp_path / "out" / "x.pkl" and path.is_file()
    (tmp_path / "folder.h5").mkdir()
    with pytest.raises(IsADirectoryError, match="folder.h5"):
        io.save_frame(example_frame(2, 10), tmp_path / "folder.h5")
    with pytest.raises(TypeError):
        io.save_frame({"not": "a frame"}, tmp_path / "y.pkl")


# ----------------------------------------------------------- loading: refusals

def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="Dataset file not found"):
        io.load_dataset(tmp_path / "nope.h5")


def test_unsupported_suffix_on_load(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError) as info:
        io.load_dataset(path)
    assert "'.csv'" in str(info.value) and "'.hdf5'" in str(info.value)


def test_pandas_to_hdf_file_needs_an_explicit_allow_pickle(tmp_path, monkeypatch):
    path = tmp_path / "pandas.h5"
    with warnings.catch_warnings():  # pandas warns that it pickles the object column
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        pd.DataFrame({"a": [np.arange(3), "x"]}, dtype=object).to_hdf(
            path, key="dataset", mode="w", format="fixed")
    monkeypatch.delenv("DATAKIT_ALLOW_PICKLE", raising=False)
    with pytest.raises(PickleRefused, match="allow_pickle=True") as info:
        io.load_dataset(path)
    assert str(path) in str(info.value) and "pickles" in str(info.value)
    df = io.load_dataset(path, allow_pickle=True)
    assert df.shape == (2, 1) and list(df.iloc[0, 0]) == [0, 1, 2]
    monkeypatch.setenv("DATAKIT_ALLOW_PICKLE", "1")  # an explicit yes in the environment
    assert io.load_dataset(path).shape == (2, 1)
    monkeypatch.setenv("DATAKIT_ALLOW_PICKLE", "0")  # safe mode wins over nothing
    with pytest.raises(PickleRefused, match="Safe mode"):
        io.load_dataset(path)


def test_garbage_and_truncated_hdf5_are_refused(tmp_path):
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(ValueError, match="garbage.h5"):
        io.load_dataset(garbage)
    good = io.save_frame(example_frame(2, 5_000), tmp_path / "good.h5")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated"):
        io.load_dataset(truncated)


def test_damaged_layout_is_refused(tmp_path):
    path = io.save_frame(example_frame(2, 100), tmp_path / "x.h5")
    with h5py.File(path, "a") as f:
        del f["dataset/c0/a0_shapes"]
    with pytest.raises(ValueError, match="x.h5"):
        io.load_dataset(path)


class _Exploit:
    """Unpickling this sets an environment variable: proof that code ran."""

    def __reduce__(self):
        return (exec, ("import os; os.environ['DATAKIT_PWNED'] = '1'",))


def test_hdf5_reader_never_unpickles(tmp_path, monkeypatch):
    tables = pytest.importorskip("tables")   # PyTables writes pickled attributes and nodes
    monkeypatch.delenv("DATAKIT_PWNED", raising=False)
    df = example_frame(2, 50)
    # 1) pickled attributes on a valid datakit file: ignored, never run
    ours = io.save_frame(df, tmp_path / "ours.h5")
    with tables.open_file(str(ours), "a") as h5:
        for node in ("/", "/dataset", "/dataset/c0", "/dataset/c0/tags", "/dataset/header"):
            h5.get_node(node)._v_attrs.evil = _Exploit()
    assert_frames_equal(df, io.load_dataset(ours))
    # 2) a column node replaced by pickled objects: refused, never run
    swapped = io.save_frame(df, tmp_path / "swapped.h5")
    with tables.open_file(str(swapped), "a") as h5:
        h5.remove_node("/dataset/c0/tags")
        h5.create_vlarray("/dataset/c0", "tags", tables.ObjectAtom()).append(_Exploit())
    with pytest.raises(ValueError, match="not a plain numeric array"):
        io.load_dataset(swapped)
    # 3) a foreign file whose group carries a pickled attribute
    foreign = tmp_path / "foreign.h5"
    with tables.open_file(str(foreign), "w") as h5:
        h5.create_group("/", "dataset")._v_attrs.header = _Exploit()
    with pytest.raises(ValueError, match="datakit"):
        io.load_dataset(foreign)
    assert "DATAKIT_PWNED" not in os.environ
    # the payload is live: plain PyTables runs it when it merely opens the group
    with tables.open_file(str(foreign)) as h5:
        h5.get_node("/dataset")
    assert os.environ.get("DATAKIT_PWNED") == "1"


# ------------------------------------------------------------------ safe mode

def test_safe_mode_refuses_pickles_but_loads_hdf5(tmp_path, monkeypatch):
    df = example_frame(2, 50)
    pkl = io.save_frame(df, tmp_path / "x.pkl")
    h5 = io.save_frame(df, tmp_path / "x.h5")
    monkeypatch.setattr(pd, "read_pickle", lambda *a, **k: pytest.fail("file was unpickled"))
    monkeypatch.setenv("DATAKIT_ALLOW_PICKLE", "0")
    with pytest.raises(PickleRefused, match="x.pkl"):
        io.load_dataset(pkl)
    assert_frames_equal(df, io.load_dataset(h5))
    monkeypatch.delenv("DATAKIT_ALLOW_PICKLE")
    with pytest.raises(PickleRefused):
        io.load_dataset(pkl, allow_pickle=False)
    assert_frames_equal(df, io.load_dataset(h5, allow_pickle=False))


def test_explicit_allow_pickle_wins_over_environment(tmp_path, monkeypatch):
    df = example_frame(2, 50)
    pkl = io.save_frame(df, tmp_path / "x.pkl")
    monkeypatch.setenv("DATAKIT_ALLOW_PICKLE", "0")
    assert_frames_equal(df, io.load_dataset(pkl, allow_pickle=True))


def test_pickle_of_something_else(tmp_path):
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(TypeError, match="list"):
        io.load_dataset(path)
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(pickle.dumps(example_frame(1, 10))[:100])
    with pytest.raises(ValueError, match="broken.pkl"):
        io.load_dataset(broken)


# ------------------------------------------------------------------ file sizes

def sample_session_frame(root: Path) -> pd.DataFrame:
    """sample_experiment1 in the materialized layout, built from its CSVs by hand."""
    ses = root / "data" / "sub-STREHAB07" / "ses-05"
    stem = "20250706_161035_sub-STREHAB07_ses-05_task-widefield"
    mean = pd.read_csv(root / "processed" / "means" / f"{stem}_mesoscope.ome_meso-mean-trace.csv")
    tread = pd.read_csv(ses / "beh" / f"{stem}_treadmill.csv")
    stamps = pd.read_csv(ses / f"{stem}_timestamps.csv")
    config = pd.read_csv(ses / f"{stem}_configuration.csv")
    t = (tread["timestamp"] - tread["timestamp"].iloc[0]).to_numpy() / 1e6
    row = {("meso", "Mean"): mean["Mean"].to_numpy(),
           ("meso", "meta"): {"source_file": "meso-mean-trace.csv", "n_slices": len(mean)},
           ("notes", "timestamp"): pd.Timestamp("2025-07-06 16:11:17"),
           ("notes", "note"): "Lots of running before beng put under the scope"}
    row.update({("session_config", str(k)): str(v) for k, v in zip(config.Parameter, config.Value)})
    row[("timestamps", "device_id")] = stamps["device_id"].to_numpy(dtype=object)
    row[("timestamps", "started")] = stamps["started"].to_numpy(dtype=object)
    row[("timestamps", "start_s")] = np.arange(len(stamps), dtype=float)
    for name in ["timestamp", "distance_mm", "speed_mm"]:
        row[("treadmill", name)] = tread[name].to_numpy()
    row[("treadmill", "time_elapsed_s")] = t
    row[("treadmill", "meta")] = {"source_file": "treadmill.csv", "rows": len(tread)}
    df = pd.DataFrame({i: [None] for i in range(len(row))}, dtype=object,
                      index=pd.MultiIndex.from_tuples([("STREHAB07", "ses-05", "task-widefield")],
                                                      names=["Subject", "Session", "Task"]))
    for i, value in enumerate(row.values()):
        df.iat[0, i] = value
    df.columns = pd.MultiIndex.from_tuples(list(row), names=["Source", "Feature"])
    df.attrs = {"datakit_sources": ["meso_mean", "notes", "session_config", "timestamps",
                                    "treadmill"], "datakit_roots": [str(root)]}
    return df


def test_sample_session_hdf5_no_larger_than_its_pickle(tmp_path, sample_experiment1):
    df = sample_session_frame(sample_experiment1)
    pkl = io.save_frame(df, tmp_path / "s.pkl")
    h5 = io.save_frame(df, tmp_path / "s.h5")
    assert h5.stat().st_size <= 1.5 * pkl.stat().st_size
    assert_frames_equal(df, io.load_dataset(h5))
    assert_frames_equal(df, io.load_dataset(pkl))


def test_synthetic_hdf5_no_larger_than_its_pickle(tmp_path):
    df = example_frame(3, 50_000)
    pkl = io.save_frame(df, tmp_path / "s.pkl")
    h5 = io.save_frame(df, tmp_path / "s.h5")
    assert h5.stat().st_size <= 1.5 * pkl.stat().st_size


# ------------------------------------------------------------ frame comparison

def test_frames_equal_spots_each_kind_of_difference():
    df = example_frame(3, 100)
    assert frames_equal(df, df.copy(deep=True))
    changed = df.copy()
    arr = changed.iat[1, 0].copy()
    arr[42] += 1.0
    changed.iat[1, 0] = arr
    with pytest.raises(AssertionError) as info:
        assert_frames_equal(df, changed)
    message = str(info.value)
    assert "STREHAB07" in message and "dataqueue" in message and "[42]" in message

    def differs(change):
        other = df.copy(deep=True)
        change(other)
        return not frames_equal(df, other)

    def set_cell(column, value):
        return lambda d: d.iat.__setitem__((0, d.columns.get_loc(column)), value)

    meta = df.iat[0, df.columns.get_loc(("notes", "meta"))]
    assert differs(set_cell(("session_config", "duration"), 1200.0))  # int vs float
    assert differs(set_cell(("notes", "meta"), {**meta, "extra": 0}))
    assert differs(set_cell(("suite2p", "n_cells"), 4))  # np.int64 vs int
    assert differs(set_cell(("dataqueue", "t"), df.iat[0, 0].astype(np.float32)))
    assert differs(lambda d: d.attrs.__setitem__("datakit_notes", ["other"]))
    assert differs(lambda d: setattr(d, "index", d.index.set_names(["a", "b", "c"])))
    assert not frames_equal(df, df.iloc[:2])
    nan_twice = one_column([np.array([np.nan, 1.0]), float("nan")])
    assert frames_equal(nan_twice, nan_twice.copy(deep=True))
