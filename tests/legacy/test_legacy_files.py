"""Saved files of mesofield's datakit: the pandas HDF5 layout and pickles, opened and converted.

The files are rebuilt from the reference (``earlier.py``): the frame of §3.9 written with
``to_hdf(format="fixed")`` as the earlier ``save`` did, a flat frame in ``table`` format,
and ``to_pickle``.  No file from elsewhere is used.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import datakit
from datakit.cli import main
from datakit.errors import PickleRefused
from datakit.legacy import convert, pandas_hdf_keys
from datakit.testing import assert_frames_equal

from earlier import earlier_frame, earlier_table_frame, write_h5

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    folder = tmp_path_factory.mktemp("earlier")
    df = earlier_frame()
    files = {
        "fixed": write_h5(df, folder / "250706_dataset_mvp.h5"),
        "table": write_h5(earlier_table_frame(), folder / "config_table.h5", format="table"),
        "pickle": folder / "250706_dataset_mvp.pkl",
    }
    df.to_pickle(files["pickle"])
    return df, files


@pytest.fixture(autouse=True)
def no_pickle_env(monkeypatch):
    monkeypatch.delenv("DATAKIT_ALLOW_PICKLE", raising=False)


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def without_attrs(df):
    out = df.copy()
    out.attrs = {}
    return out


# ---------------------------------------------------------------------------------
# opening


def test_pandas_layout_is_recognised_without_unpickling(earlier):
    _, files = earlier
    assert pandas_hdf_keys(files["fixed"]) == {"dataset": "pandas_fixed"}
    assert pandas_hdf_keys(files["table"]) == {"dataset": "pandas_table"}
    ours = datakit.io.save_frame(earlier_table_frame(), files["fixed"].with_name("ours.h5"))
    assert pandas_hdf_keys(ours) == {}


@pytest.mark.parametrize("kind", ["fixed", "table"])
def test_earlier_h5_is_refused_without_allow_pickle_naming_the_flag(earlier, kind):
    _, files = earlier
    with pytest.raises(PickleRefused) as info:
        datakit.load_dataset(files[kind])
    message = str(info.value)
    assert str(files[kind]) in message
    assert "allow_pickle=True" in message and "pickles" in message
    assert "datakit convert" in message
    assert isinstance(info.value, PermissionError)


def test_earlier_fixed_h5_loads_with_allow_pickle(earlier):
    df, files = earlier
    got = datakit.load_dataset(files["fixed"], allow_pickle=True)
    # exactly what pandas reads (to_hdf never kept attrs, reference §3.10)
    assert_frames_equal(pd.read_hdf(files["fixed"], "dataset"), got)
    assert got.shape == df.shape and list(got.columns) == list(df.columns)
    cell = got.loc[("STREHAB07", "ses-05", "task-widefield")]
    assert cell[("session_config", "duration")] == "1200"          # text, as it was saved
    assert cell[("meso", "meta")]["n_slices"] == len(cell[("meso", "Mean")])
    packet = got.iloc[1][("dataqueue", "packet_ts")]
    assert isinstance(packet[0], pd.Timestamp) and str(packet[0].tz) == "UTC"


def test_earlier_table_h5_loads_with_allow_pickle(earlier):
    _, files = earlier
    got = datakit.load_dataset(files["table"], allow_pickle=True)
    want = earlier_table_frame()
    assert got.shape == want.shape and list(got.columns) == list(want.columns)
    assert got.iloc[0]["weight"] == "20.30" and np.isnan(got.iloc[0]["trial_duration"])


def test_explicit_yes_from_the_environment_and_safe_mode(earlier, monkeypatch):
    _, files = earlier
    monkeypatch.setenv("DATAKIT_ALLOW_PICKLE", "1")
    assert datakit.load_dataset(files["fixed"]).shape == (2, 52)
    monkeypatch.setenv("DATAKIT_ALLOW_PICKLE", "0")
    with pytest.raises(PickleRefused, match="Safe mode is on"):
        datakit.load_dataset(files["fixed"])
    with pytest.raises(PickleRefused):
        datakit.load_dataset(files["fixed"], allow_pickle=False)


def test_earlier_pickle_loads_and_ours_load_in_pandas(earlier, tmp_path):
    df, files = earlier
    assert_frames_equal(df, datakit.load_dataset(files["pickle"]))   # attrs kept by pickle
    ours = datakit.io.save_frame(df, tmp_path / "ours.pkl")
    assert_frames_equal(df, pd.read_pickle(ours))


def test_profile_explore_and_shell_read_an_earlier_h5(earlier):
    _, files = earlier
    report = datakit.profile_materialized(files["fixed"], allow_pickle=True)
    assert report.shape == (2, 52) and report.by_source_bytes["meso"] > 5880 * 8
    explored = datakit.explore(files["fixed"], print_output=False, allow_pickle=True)
    assert "meso" in explored.sources and explored.shape == (2, 52)
    with pytest.raises(PickleRefused, match="allow_pickle"):
        datakit.open_shell(files["fixed"])


# ---------------------------------------------------------------------------------
# convert


@pytest.mark.parametrize("kind", ["fixed", "table", "pickle"])
def test_convert_writes_datakits_layout_and_leaves_the_old_file(earlier, tmp_path, kind):
    _, files = earlier
    before = digest(files[kind])
    new = convert(files[kind], tmp_path / "new.h5")
    assert digest(files[kind]) == before
    assert pandas_hdf_keys(new) == {}                      # no pandas node, no pickle
    got = datakit.load_dataset(new, allow_pickle=False)    # opens in safe mode
    want = datakit.load_dataset(files[kind], allow_pickle=True)
    assert_frames_equal(without_attrs(want), without_attrs(got))
    source = got.attrs["datakit_converted_from"]
    assert source["path"] == str(files[kind].resolve())
    assert source["format"] == {"fixed": "pandas_fixed", "table": "pandas_table", "pickle": "pickle"}[kind]
    if kind == "pickle":                                   # a pickle's attrs come along
        assert got.attrs["datakit_sources"] == want.attrs["datakit_sources"]
    assert [p.name for p in tmp_path.iterdir()] == ["new.h5"]   # no temporary file left


def test_convert_refuses_what_would_lose_data(earlier, tmp_path, monkeypatch):
    _, files = earlier
    target = tmp_path / "taken.h5"
    target.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="already exists"):
        convert(files["fixed"], target)
    assert target.read_bytes() == b"precious"
    before = digest(files["fixed"])
    with pytest.raises(ValueError, match="is the file being converted"):
        convert(files["fixed"], files["fixed"], overwrite=True)
    link = tmp_path / "link.h5"
    link.symlink_to(files["fixed"])
    with pytest.raises(ValueError, match="is the file being converted"):
        convert(files["fixed"], link, overwrite=True)
    assert digest(files["fixed"]) == before
    with pytest.raises(ValueError, match=r"\.h5 or \.hdf5"):
        convert(files["fixed"], tmp_path / "new.pkl")
    monkeypatch.setenv("DATAKIT_ALLOW_PICKLE", "0")
    with pytest.raises(PickleRefused, match="Safe mode"):
        convert(files["fixed"], tmp_path / "new.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.h5", "taken.h5"]
    monkeypatch.delenv("DATAKIT_ALLOW_PICKLE")
    assert convert(files["fixed"], target, overwrite=True) == target.resolve()
    assert datakit.load_dataset(target).shape == (2, 52)


def test_convert_truncated_and_foreign_hdf5_fail_clearly(earlier, tmp_path):
    _, files = earlier
    truncated = tmp_path / "cut.h5"
    truncated.write_bytes(files["fixed"].read_bytes()[: files["fixed"].stat().st_size // 3])
    with pytest.raises(ValueError, match="truncated") as info:
        convert(truncated, tmp_path / "a.h5")
    assert str(truncated) in str(info.value)
    h5py = pytest.importorskip("h5py")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["dataset/traces"] = np.arange(10.0)
    with pytest.raises(ValueError, match="not in datakit's HDF5 layout") as info:
        convert(foreign, tmp_path / "b.h5")
    assert str(foreign) in str(info.value)
    with pytest.raises(ValueError, match=r"no dataset 'other'.*\['dataset'\]"):
        convert(files["fixed"], tmp_path / "c.h5", hdf_key="other")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.h5", "foreign.h5"]


def test_convert_command(earlier, tmp_path, capsys):
    _, files = earlier
    new = tmp_path / "dataset.h5"
    assert main(["convert", str(files["fixed"]), str(new)]) == 0
    out, err = capsys.readouterr()
    assert f"wrote {new}" in out and "2 rows x 52 columns" in out
    assert "holding pickles" in err                        # said before unpickling
    assert main(["convert", str(files["fixed"]), str(new)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err
    assert main(["convert", str(files["fixed"]), str(new), "--force"]) == 0
    assert main(["convert", str(files["fixed"]), str(files["fixed"])]) == 2
    assert "is the file being converted" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "nope.h5"), str(tmp_path / "x.h5")]) == 2


# ---------------------------------------------------------------------------------
# the layout, read without datakit (README)


def readme_reader() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- h5py-reader -->\n```python\n(.*?)```\n<!-- /h5py-reader -->", text, re.S)
    assert match, "README lost its h5py reader"
    return match.group(1)


def test_readme_h5py_reader_reads_every_cell_like_load_dataset(legacy_ds, tmp_path, monkeypatch):
    pytest.importorskip("h5py")
    path = legacy_ds.save(tmp_path / "hfsa.h5", workers=1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_reader(), "README.md", "exec"), namespace)   # runs the example too
    import h5py

    want = datakit.load_dataset(path)
    with h5py.File(path, "r") as f:
        group = f["dataset"]
        header = namespace["untag"](json.loads(group["header"][()].tobytes()))
        assert header["format"] == "datakit-frame" and header["n_rows"] == len(want)
        columns = list(zip(*[lv["values"] for lv in header["columns"]["levels"]]))
        assert columns == list(want.columns)
        checked = 0
        for j in range(want.shape[1]):
            got = namespace["column"](group, header, j)
            for i in range(len(want)):
                a, b = want.iloc[i, j], got[i]
                if isinstance(a, dict):  # meta: the same keys (values are tagged JSON)
                    assert isinstance(b, dict) and set(a) == set(b), want.columns[j]
                    continue
                if isinstance(a, list):  # psychopy window lists
                    assert [tuple(x) for x in a] == [tuple(x) for x in b], want.columns[j]
                    continue
                diff = datakit.testing.values_difference(a, b)
                assert diff is None, (want.index[i], want.columns[j], diff)
                checked += 1
    assert checked > 100


def test_readme_h5py_reader_on_a_converted_earlier_file(earlier, tmp_path):
    """Object arrays of Timestamps (the earlier dataqueue packet_ts) read as UTC datetime64."""
    h5py = pytest.importorskip("h5py")
    _, files = earlier
    path = convert(files["fixed"], tmp_path / "converted.h5")
    namespace: dict = {}
    exec(compile(readme_reader().split("with h5py.File")[0], "README.md", "exec"), namespace)
    want = datakit.load_dataset(path)
    with h5py.File(path, "r") as f:
        group = f["dataset"]
        header = namespace["untag"](json.loads(group["header"][()].tobytes()))
        columns = list(zip(*[lv["values"] for lv in header["columns"]["levels"]]))
        j = columns.index(("dataqueue", "packet_ts"))
        assert header["column_specs"][j]["arrays"][0]["kind"] == "ts"
        got = namespace["column"](group, header, j)
    stamps = want.iloc[1, j]
    assert isinstance(stamps[0], pd.Timestamp) and str(stamps[0].tz) == "UTC"
    np.testing.assert_array_equal(got[1], pd.DatetimeIndex(stamps).tz_localize(None).to_numpy())


def test_readme_h5py_reader_pairs_rows_of_a_file_stored_out_of_order(tmp_path):
    """A cell-by-cell save stores cells as they finish (header row_order): the reader's
    index and cells stay paired."""
    from datakit.hdf5 import FrameWriter
    from datakit.testing import example_frame

    h5py = pytest.importorskip("h5py")
    df = example_frame(4, 50, seed=9)
    writer = FrameWriter(tmp_path / "shuffled.h5")
    for position in (2, 0, 3, 1):
        writer.add_row(position, df.index[position], list(df.iloc[position].items()))
    header = writer.finish(df.index, df.columns, df.attrs)
    assert list(header["row_order"]) == [1, 3, 0, 2]
    namespace: dict = {}
    exec(compile(readme_reader().split("with h5py.File")[0], "README.md", "exec"), namespace)
    with h5py.File(tmp_path / "shuffled.h5", "r") as f:
        group = f["dataset"]
        header = namespace["untag"](json.loads(group["header"][()].tobytes()))
        rows = list(zip(*[lv["values"] for lv in header["index"]["levels"]]))
        assert rows == [tuple(df.index[p]) for p in (2, 0, 3, 1)]
        j = list(df.columns).index(("treadmill", "speed_mm"))
        for row, cell in zip(rows, namespace["column"](group, header, j)):
            np.testing.assert_array_equal(cell, df.loc[row, ("treadmill", "speed_mm")])
