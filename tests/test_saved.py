"""datakit.open_dataset: a saved HDF5 frame opened lazily; files of the earlier layout.

``tests/data/layout_v1*.h5`` were written by datakit's version-1 writer (PyTables, commit
8fb1553) from the frames rebuilt below; they must keep loading equal to them.
"""
from __future__ import annotations

import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from util import one_column, plain_columns_frame

import datakit
from datakit import hdf5, io
from datakit.testing import assert_frames_equal, example_frame

h5py = pytest.importorskip("h5py")
DATA = Path(__file__).resolve().parent / "data"


# ------------------------------------------------------------- version-1 files

def v1_kinds() -> pd.DataFrame:
    """The one-column frame of every cell kind in layout_v1_kinds.h5 (key "kinds")."""
    cells = [
        np.arange(5, dtype=np.int32), np.array([True, False]),
        np.array([1.5, np.nan, -np.inf], dtype=np.float32),
        np.array(["2025-07-06T16:10:35.612865", "NaT"], dtype="datetime64[us]"),
        np.array([3, 4], dtype="timedelta64[ms]"),
        np.array(["enc", None, "", "αβγ", "x\x00y"], dtype=object),
        np.array(["a", None, "日本"], dtype=object),
        np.array([["a", "b"], ["c", None]], dtype=object),
        np.arange(12, dtype=np.float64).reshape(3, 4), np.zeros((0, 3)), np.array(2.5),
        np.arange(3, dtype=">i4"), np.array(["ab", "c"]), np.array([b"x"]),
        np.array([pd.Timestamp("2025-07-06 16:11", tz="UTC")] * 2, dtype=object),
        np.array(["mixed", np.nan, 3], dtype=object),
        1, 2**80, 2.5, True, "text", "ünï", "a", None, np.nan, np.float32(1.25), np.int64(7),
        pd.Timestamp("2025-07-06 16:11", tz="Europe/Paris"), pd.Timedelta(seconds=3),
        {"a": 1, "b": [1, (2, 3), None], "c": {"d": np.arange(3)}}, [1, "3", None], b"raw",
    ]
    df = one_column(cells)
    df.attrs = {"note": "every cell kind"}
    return df


@pytest.mark.parametrize("name, key, frame", [
    ("layout_v1.h5", "dataset", lambda: example_frame(3, 100, seed=5)),
    ("layout_v1_kinds.h5", "kinds", v1_kinds),
    ("layout_v1_columns.h5", "dataset", plain_columns_frame),
], ids=["materialized", "cell-kinds", "column-kinds"])
def test_version_1_files_still_load(name, key, frame):
    want = frame()
    path = DATA / name
    assert_frames_equal(want, datakit.load_dataset(path, hdf_key=key))
    saved = datakit.open_dataset(path, hdf_key=key)
    assert saved.version == 1
    if name == "layout_v1_columns.h5":  # version 1 kept no categories: a part has its own
        return
    for i in range(len(want)):          # one cell at a time, from whole blocks
        assert_frames_equal(want.iloc[[i]], saved.cell(want.index[i]))


@pytest.mark.parametrize("frame", [v1_kinds, plain_columns_frame], ids=["cell-kinds", "column-kinds"])
def test_what_is_written_now_is_version_2_and_reads_the_same(tmp_path, frame):
    want = frame()
    path = io.save_frame(want, tmp_path / "kinds.h5", hdf_key="kinds")
    saved = datakit.open_dataset(path, hdf_key="kinds")
    assert saved.version == hdf5.VERSION == 2
    assert_frames_equal(want, saved.load())
    for i in range(len(want)):          # one cell at a time, from its own byte range
        assert_frames_equal(want.iloc[[i]], saved.cell(want.index[i]))


def test_a_newer_layout_version_is_refused_naming_it(tmp_path):
    path = io.save_frame(example_frame(2, 10), tmp_path / "x.h5")
    with h5py.File(path, "a") as f:
        header = datakit.tagged_json.loads(f["dataset/header"][()].tobytes())
        header["version"] = 99
        del f["dataset/header"]
        f["dataset/header"] = np.frombuffer(datakit.tagged_json.dumps(header), np.uint8)
    with pytest.raises(ValueError, match=r"version 99.*upgrade datakit"):
        datakit.open_dataset(path)


# ----------------------------------------------------------------- lazy reading

@pytest.fixture(scope="module")
def saved_file(tmp_path_factory):
    df = example_frame(6, 3_000, seed=3)
    return df, io.save_frame(df, tmp_path_factory.mktemp("saved") / "frame.h5")


def test_index_and_columns_read_nothing_but_the_header(saved_file, monkeypatch):
    df, path = saved_file
    opened = []
    real = hdf5.reader._leaf
    monkeypatch.setattr(hdf5.reader, "_leaf", lambda g, name: opened.append(name) or real(g, name))
    saved = datakit.open_dataset(path)
    assert saved.index.equals(df.index) and saved.columns.equals(df.columns)
    assert saved.shape == df.shape and len(saved) == len(df)
    assert saved.attrs == df.attrs and saved.sources == ["dataqueue", "treadmill", "suite2p",
                                                         "session_config", "notes", "pupil"]
    assert opened == ["header"]
    assert "rows=6" in repr(saved)


def test_cell_returns_the_one_row_frame(saved_file):
    df, path = saved_file
    saved = datakit.open_dataset(str(path))
    for i in (0, 3, 5):
        assert_frames_equal(df.iloc[[i]], saved.cell(df.index[i]))
    assert_frames_equal(df.iloc[[2]], saved.cell(list(df.index[2])))   # a list works too
    with pytest.raises(KeyError, match=r"STREHAB99.*frame\.h5.*6 cells"):
        saved.cell(("STREHAB99", "ses-01", "task-widefield"))
    with pytest.raises(TypeError, match=r"subject, session, task.*load\(subject"):
        saved.cell("STREHAB07")                      # a subject is not a cell


def test_load_filters_rows_and_sources_like_include(saved_file):
    df, path = saved_file
    saved = datakit.open_dataset(path)
    assert_frames_equal(df, saved.load())
    subject = df.index.get_level_values(0) == "STREHAB08"
    assert_frames_equal(df[subject], saved.load(subject="STREHAB08"))
    picked = saved.load(subject=["STREHAB07", "STREHAB09"], session="ses-02",
                        source=["treadmill", "notes"])
    rows = df.index.get_level_values(0).isin(["STREHAB07", "STREHAB09"]) & \
        (df.index.get_level_values(1) == "ses-02")
    cols = df.columns.get_level_values(0).isin(["treadmill", "notes"])
    assert_frames_equal(df.loc[rows, cols], picked)
    assert saved.load(subject="nobody").shape == (0, df.shape[1])
    with pytest.raises(KeyError, match=r"'wheel'.*frame\.h5"):
        saved.load(source="wheel")
    with pytest.raises(TypeError, match="subject"):
        saved.load(subject=7)
    flat = io.save_frame(example_frame(2, 10, task_level=False), path.with_name("flat.h5"))
    with pytest.raises(ValueError, match="no Task level"):
        datakit.open_dataset(flat).load(task="task-widefield")


def test_presence_says_which_cells_hold_each_source(saved_file):
    df, path = saved_file
    presence = datakit.open_dataset(path).presence()
    assert presence.index.equals(df.index)
    assert presence.loc[df.index[-1], "pupil"] == False  # noqa: E712 - the last row has no pupil
    assert presence.drop(columns="pupil").all().all() and presence["pupil"].sum() == 5


def test_a_file_saved_again_is_not_read_with_the_old_header(saved_file, tmp_path):
    df, path = saved_file
    copy = Path(shutil.copy(path, tmp_path / "copy.h5"))
    saved = datakit.open_dataset(copy)
    io.save_frame(example_frame(2, 10), copy)
    with pytest.raises(ValueError, match="changed on disk.*open it again"):
        saved.cell(df.index[0])
    assert datakit.open_dataset(copy).shape[0] == 2


def test_a_saved_dataset_crosses_processes(saved_file):
    df, path = saved_file
    saved = pickle.loads(pickle.dumps(datakit.open_dataset(path)))
    assert_frames_equal(df.iloc[[1]], saved.cell(df.index[1]))


# ---------------------------------------------------------------- what is refused

def test_refusals_say_what_the_file_is_and_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        datakit.open_dataset(tmp_path / "nope.h5")
    with pytest.raises(IsADirectoryError, match="folder"):
        datakit.open_dataset(tmp_path)
    pkl = io.save_frame(example_frame(2, 10), tmp_path / "frame.pkl")
    for path in (pkl, Path(shutil.copy(pkl, tmp_path / "frame.h5"))):  # by suffix or content
        with pytest.raises(ValueError) as info:
            datakit.open_dataset(path)
        message = str(info.value)
        assert "is a pickle" in message and "load_dataset" in message and "datakit convert" in message
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        datakit.open_dataset(text)
    pandas_h5 = tmp_path / "earlier.h5"
    with warnings.catch_warnings():  # pandas warns that it pickles the object column
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        pd.DataFrame({"a": [np.arange(3), "x"]}, dtype=object).to_hdf(
            pandas_h5, key="dataset", mode="w", format="fixed")
    with pytest.raises(ValueError, match=r"pandas to_hdf.*datakit convert") as info:
        datakit.open_dataset(pandas_h5)
    assert str(pandas_h5) in str(info.value)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["dataset/traces"] = np.arange(10.0)
    with pytest.raises(ValueError, match="not in datakit's HDF5 layout"):
        datakit.open_dataset(foreign)
    with pytest.raises(ValueError, match=r"no dataset 'other'.*\['dataset'\]"):
        datakit.open_dataset(foreign, hdf_key="other")


def test_truncated_and_damaged_files(saved_file, tmp_path):
    df, path = saved_file
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated") as info:
        datakit.open_dataset(cut)
    assert str(cut) in str(info.value)
    damaged = Path(shutil.copy(path, tmp_path / "damaged.h5"))
    with h5py.File(damaged, "a") as f:
        del f["dataset/c0/a0_values"]
    saved = datakit.open_dataset(damaged)        # the header is intact
    with pytest.raises(ValueError, match="damaged.h5"):
        saved.cell(df.index[0])
    treadmill = df.columns.get_level_values(0) == "treadmill"   # undamaged columns still read
    assert_frames_equal(df.loc[:, treadmill], saved.load(source="treadmill"))


def test_reading_imports_no_pytables_and_patches_nothing(tmp_path):
    """datakit's layout needs no PyTables (whose pickle datakit once had to swap)."""
    import subprocess
    import sys

    path = io.save_frame(example_frame(2, 50), tmp_path / "x.h5")
    code = (
        "import sys, pickle, datakit\n"
        f"datakit.load_dataset({str(path)!r}); datakit.open_dataset({str(path)!r}).cell"
        f"(('STREHAB07', 'ses-01', 'task-widefield'))\n"
        f"datakit.io.save_frame(datakit.load_dataset({str(path)!r}), {str(tmp_path / 'y.h5')!r})\n"
        "assert 'tables' not in sys.modules, 'PyTables was imported'\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
