"""profile_materialized: figures, sources, cells, reports, and the three kinds of target."""
from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from datakit import io
from datakit.errors import PickleRefused
from datakit.profile import (CellMemory, ColumnMemory, MaterializedMemoryReport, human_bytes,
                             profile_materialized)
from datakit.testing import example_frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return example_frame(4, 20_000)


@pytest.fixture(scope="module")
def report(frame) -> MaterializedMemoryReport:
    return profile_materialized(frame)


def column(report, name) -> ColumnMemory:
    return next(c for c in report.columns if c.column == name)


def test_report_shape_and_totals(frame, report):
    assert report.source_path is None
    assert report.shape == frame.shape
    assert report.index_names == ("Subject", "Session", "Task")
    assert report.column_levels == ("Source", "Feature")
    assert len(report.columns) == frame.shape[1]
    assert report.estimated_total_bytes == (report.index_bytes + report.columns_index_bytes
                                            + sum(c.estimated_total_bytes for c in report.columns))
    assert sum(report.by_source_bytes.values()) == sum(c.estimated_total_bytes for c in report.columns)
    assert list(report.by_source_bytes.values()) == sorted(report.by_source_bytes.values(), reverse=True)
    assert report.pandas_deep_total_bytes == int(frame.memory_usage(deep=True).sum())


def test_numeric_array_cells_are_sized_by_nbytes(frame, report):
    c = column(report, "dataqueue.t")
    arrays = list(frame[("dataqueue", "t")])
    assert (c.source, c.feature, c.dtype) == ("dataqueue", "t", "object")
    assert (c.n_total, c.n_non_null, c.n_null) == (4, 4, 0)
    assert c.pointer_array_bytes == 4 * 8
    data = sum(a.nbytes for a in arrays)
    assert data < c.object_payload_bytes <= data + 4 * sys.getsizeof(np.empty(0))
    assert c.estimated_total_bytes == c.pointer_array_bytes + c.object_payload_bytes
    assert c.max_non_null_cell_bytes == max(a.nbytes + sys.getsizeof(np.empty(0)) for a in arrays)
    assert c.value_type_counts == {"ndarray[float64]": 4}
    assert column(report, "suite2p.roi_fluorescence").value_type_counts == {"ndarray[float32, 2-D]": 4}


def test_string_arrays_count_their_strings(frame, report):
    c = column(report, "dataqueue.device_id")
    arrays = list(frame[("dataqueue", "device_id")])
    strings = sum(sys.getsizeof(s) for a in arrays for s in a if s is not None)
    pointers = sum(a.nbytes for a in arrays)
    assert c.object_payload_bytes >= strings + pointers
    assert c.object_payload_bytes < strings + pointers + 4 * 200


def test_missing_cells_and_scalars(report):
    pupil = column(report, "pupil.diameter_mm")
    assert (pupil.n_non_null, pupil.n_null) == (3, 1)
    empty = column(report, "session_config.comment")  # all None
    assert (empty.n_non_null, empty.object_payload_bytes, empty.avg_non_null_cell_bytes) == (0, 0, 0.0)
    assert column(report, "session_config.duration").value_type_counts == {"int": 4}
    assert column(report, "suite2p.n_cells").value_type_counts == {"np.int64": 4}
    assert column(report, "notes.timestamp").value_type_counts == {"Timestamp": 4}


def test_dicts_are_sized_recursively_with_dotted_keys(report):
    meta = column(report, "notes.meta")
    keys = meta.nested_dict_key_bytes
    assert {"source_file", "lines", "window", "extra", "nested.gain", "nested.ids"} == set(keys)
    assert keys["window"] >= 4 * 3 * 8  # a float array of 3 in each of 4 rows
    assert keys["extra"] == 0  # None is free
    assert meta.object_payload_bytes > sum(keys.values())  # plus the dicts and their keys


def test_largest_cells(frame):
    rep = profile_materialized(frame, top_n_cells=3)
    assert len(rep.largest_cells) == 3
    assert all(isinstance(c, CellMemory) for c in rep.largest_cells)
    sizes = [c.estimated_bytes for c in rep.largest_cells]
    assert sizes == sorted(sizes, reverse=True)
    top = rep.largest_cells[0]
    assert (top.source, top.feature, top.column) == ("dataqueue", "device_id", "dataqueue.device_id")
    assert top.row.count(".") == 2 and top.row.startswith("STREHAB")
    assert profile_materialized(frame, top_n_cells=0).largest_cells == []
    with pytest.raises(ValueError):
        profile_materialized(frame, top_n_cells=-1)


def test_cycles_and_depth_are_safe():
    loop: dict = {"name": "loop"}
    loop["self"] = loop
    deep: list = []
    node = deep
    for _ in range(200):
        node.append([])
        node = node[0]
    df = pd.DataFrame({("a", "meta"): [loop], ("a", "deep"): [deep]}, dtype=object)
    df.columns = pd.MultiIndex.from_tuples(df.columns, names=["Source", "Feature"])
    rep = profile_materialized(df)
    assert column(rep, "a.meta").object_payload_bytes > 0
    assert column(rep, "a.deep").object_payload_bytes > 0


def test_same_figures_from_frame_pickle_and_hdf5(tmp_path, frame, report):
    pkl = io.save_frame(frame, tmp_path / "f.pkl")
    h5 = io.save_frame(frame, tmp_path / "f.h5")
    frame.loc[frame.index[0]]  # builds pandas' lookup tables: not data, not counted
    for path in (pkl, h5):
        other = profile_materialized(path)
        assert other.source_path == str(path)
        assert other.estimated_total_bytes == report.estimated_total_bytes
        assert other.index_bytes == report.index_bytes
        assert other.by_source_feature_bytes == report.by_source_feature_bytes
        assert [c.nested_dict_key_bytes for c in other.columns] == [
            c.nested_dict_key_bytes for c in report.columns]
        assert [(c.row, c.column, c.estimated_bytes) for c in other.largest_cells] == [
            (c.row, c.column, c.estimated_bytes) for c in report.largest_cells]
    assert profile_materialized(str(h5), source_path="elsewhere.h5").source_path == "elsewhere.h5"
    # one memory figure, defined once, the same for either file (no second "memory" line)
    texts = [profile_materialized(p).summary() for p in (pkl, h5)]
    memory = [[ln for ln in t.splitlines() if "memory" in ln.lower() or ln.startswith("Memory")]
              for t in texts]
    assert memory[0] == memory[1]
    assert sum(ln.startswith("Memory:") for ln in memory[0]) == 1
    assert "pandas deep usage" not in texts[0]


def test_path_targets_respect_safe_mode_and_missing_files(tmp_path, frame, monkeypatch):
    pkl = io.save_frame(frame, tmp_path / "f.pkl")
    h5 = io.save_frame(frame, tmp_path / "f.h5")
    monkeypatch.setenv("DATAKIT_ALLOW_PICKLE", "0")
    with pytest.raises(PickleRefused):
        profile_materialized(pkl)
    assert profile_materialized(h5).shape == frame.shape
    with pytest.raises(FileNotFoundError, match="not found"):
        profile_materialized(tmp_path / "missing.h5")
    with pytest.raises(TypeError):
        profile_materialized(42)


def test_summary_and_verbose_are_readable(report):
    summary = report.summary()
    assert "4 rows x 21 columns" in summary and "MiB" in summary
    lines = summary.splitlines()
    assert lines[lines.index("Largest sources:") + 1].strip().startswith("dataqueue")  # largest first
    assert str(report) == summary
    text = report.verbose(top_n_cells=2)
    assert text.startswith(summary)
    assert "dataqueue.device_id" in text and "ndarray[object] x4" in text
    assert "notes.meta: nested.ids" in text
    cells_part = text.split("Largest cells (top 2):")[1]
    assert len([ln for ln in cells_part.splitlines() if "STREHAB" in ln]) == 2


def test_to_dict_and_to_json(tmp_path, report):
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["shape"] == [4, 21]
    assert data["columns"][0]["column"] == report.columns[0].column
    path = report.to_json(tmp_path / "new" / "folder" / "report.json")
    assert path == (tmp_path / "new" / "folder" / "report.json").resolve()
    assert json.loads(path.read_text()) == data
    assert report.to_json(tmp_path / "r4.json", indent=4).read_text().startswith('{\n    "')


def test_plain_frames_and_single_level_labels():
    df = pd.DataFrame({"x": np.arange(1000, dtype=np.float64), "s": ["a"] * 1000})
    rep = profile_materialized(df)
    x = column(rep, "x")
    assert (x.source, x.feature, x.dtype) == ("x", "", "float64")
    assert x.estimated_total_bytes == 8000 and x.max_non_null_cell_bytes == 8
    assert rep.index_names == (None,)
    assert rep.largest_cells == []  # only object cells are listed
    assert "Materialized frame: 1000 rows x 2 columns" in rep.summary()


@pytest.mark.parametrize("n, text", [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"),
                                     (5 * 1024**2, "5.0 MiB"), (3 * 1024**3, "3.0 GiB")])
def test_human_bytes(n, text):
    assert human_bytes(n) == text
