"""Helpers for tests: exact comparison of materialized frames, and an example frame.

:func:`assert_frames_equal` compares two materialized frames cell by cell: index and
columns (kind, names, per-level dtype, labels), column dtypes, every cell (arrays by
dtype, shape and values with NaN == NaN; dicts, lists and tuples recursively; scalars
including their type) and ``attrs``.  The failure message names the first differing
(row, column) and what differs inside the cell.

:func:`example_frame` builds a frame in the materialized layout (rows = cells, columns =
(Source, Feature), object cells holding whole streams, meta dicts, scalars, NaN for
missing) with realistic values, for tests of anything that consumes such frames.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["assert_frames_equal", "frames_equal", "values_difference", "example_frame"]


def frames_equal(a: pd.DataFrame, b: pd.DataFrame, *, check_attrs: bool = True) -> bool:
    """True when :func:`assert_frames_equal` would pass."""
    return _frame_difference(a, b, check_attrs) is None


def assert_frames_equal(a: pd.DataFrame, b: pd.DataFrame, *, check_attrs: bool = True) -> None:
    """Raise AssertionError describing the first difference between two frames."""
    diff = _frame_difference(a, b, check_attrs)
    if diff is not None:
        raise AssertionError(f"frames differ: {diff}")


def values_difference(x: Any, y: Any) -> str | None:
    """None when two cell values are equal (NaN == NaN, same types), else why not."""
    return _diff(x, y, "", 0)


def _frame_difference(a, b, check_attrs: bool) -> str | None:
    for name, obj in (("left", a), ("right", b)):
        if not isinstance(obj, pd.DataFrame):
            return f"{name} is a {type(obj).__name__}, not a DataFrame"
    if a.shape != b.shape:
        return f"shape {a.shape} != {b.shape}"
    for what in ("index", "columns"):
        diff = _index_difference(getattr(a, what), getattr(b, what))
        if diff:
            return f"{what}: {diff}"
    for j, (da, db) in enumerate(zip(a.dtypes, b.dtypes)):
        if da != db:
            return f"column {a.columns[j]!r}: dtype {da} != {db}"
    for j in range(a.shape[1]):
        diff = _column_difference(a.iloc[:, j], b.iloc[:, j])
        if diff:
            row, why = diff
            return f"row {a.index[row]!r}, column {a.columns[j]!r}: {why}"
    if check_attrs:
        diff = _diff(dict(a.attrs), dict(b.attrs), "attrs", 0)
        if diff:
            return diff
    return None


def _index_difference(a: pd.Index, b: pd.Index) -> str | None:
    if type(a) is not type(b):
        return f"{type(a).__name__} != {type(b).__name__}"
    if list(a.names) != list(b.names):
        return f"names {list(a.names)} != {list(b.names)}"
    levels = range(a.nlevels)
    for i in levels:
        la, lb = a.get_level_values(i), b.get_level_values(i)
        if la.dtype != lb.dtype:
            return f"level {i} dtype {la.dtype} != {lb.dtype}"
        if not la.equals(lb):
            pos = next(k for k in range(len(la)) if _diff(la[k], lb[k], "", 0))
            return f"level {i} label at position {pos}: {la[pos]!r} != {lb[pos]!r}"
    return None


def _column_difference(sa: pd.Series, sb: pd.Series) -> tuple[int, str] | None:
    va, vb = sa.to_numpy(), sb.to_numpy()
    if sa.dtype != object and isinstance(va, np.ndarray) and isinstance(vb, np.ndarray):
        why = _diff(va, vb, "", 0)
        if why is None:
            return None
        unequal = ~_nan_equal(va, vb)
        row = int(np.flatnonzero(unequal)[0]) if unequal.any() else 0
        return row, f"{va[row]!r} != {vb[row]!r}"
    for row, (x, y) in enumerate(zip(va.tolist() if va.dtype == object else va,
                                     vb.tolist() if vb.dtype == object else vb)):
        why = _diff(x, y, "", 0)
        if why:
            return row, why
    return None


def _nan_equal(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    eq = np.asarray(x == y, dtype=bool)
    if x.dtype.kind in "fc":
        eq |= np.isnan(x) & np.isnan(y)
    elif x.dtype.kind in "mM":
        eq |= np.isnat(x) & np.isnat(y)
    return eq


def _diff(x: Any, y: Any, where: str, depth: int) -> str | None:
    at = f" at {where}" if where else ""
    if x is y:
        return None
    if type(x) is not type(y):
        return f"type {type(x).__name__} != {type(y).__name__}{at} ({_short(x)} vs {_short(y)})"
    if depth > 64:
        return f"values nested too deep to compare{at}"
    if isinstance(x, np.ndarray):
        return _array_diff(x, y, where, depth)
    if isinstance(x, dict):
        if list(x) != list(y):
            missing = [k for k in x if k not in y]
            extra = [k for k in y if k not in x]
            if missing or extra:
                return f"dict keys differ{at}: only left {missing}, only right {extra}"
            return f"dict key order differs{at}: {list(x)} vs {list(y)}"
        for k in x:
            diff = _diff(x[k], y[k], f"{where}[{k!r}]", depth + 1)
            if diff:
                return diff
        return None
    if isinstance(x, (list, tuple)):
        if len(x) != len(y):
            return f"length {len(x)} != {len(y)}{at}"
        for i, (xi, yi) in enumerate(zip(x, y)):
            diff = _diff(xi, yi, f"{where}[{i}]", depth + 1)
            if diff:
                return diff
        return None
    if isinstance(x, (pd.DataFrame, pd.Series)):
        return None if x.equals(y) else f"{type(x).__name__} values differ{at}"
    if isinstance(x, (float, complex, np.inexact)) and _both_nan(x, y):
        return None
    if isinstance(x, pd.Timestamp) and x.unit != y.unit:
        return f"Timestamp unit {x.unit} != {y.unit}{at}"
    try:
        same = bool(x == y)
    except (TypeError, ValueError):
        same = False
    return None if same else f"{_short(x)} != {_short(y)}{at}"


def _both_nan(x, y) -> bool:
    try:
        return bool(np.isnan(x)) and bool(np.isnan(y))
    except TypeError:
        return False


def _array_diff(x: np.ndarray, y: np.ndarray, where: str, depth: int) -> str | None:
    at = f" at {where}" if where else ""
    if x.dtype != y.dtype:
        return f"array dtype {x.dtype} != {y.dtype}{at}"
    if x.shape != y.shape:
        return f"array shape {x.shape} != {y.shape}{at}"
    if x.dtype.kind == "O":
        for k, (xi, yi) in enumerate(zip(x.reshape(-1).tolist(), y.reshape(-1).tolist())):
            diff = _diff(xi, yi, f"{where}[{_pos(x, k)}]", depth + 1)
            if diff:
                return diff
        return None
    if np.array_equal(x, y):
        return None
    unequal = ~_nan_equal(x, y).reshape(-1)
    if not unequal.any():
        return None
    k = int(np.flatnonzero(unequal)[0])
    return (f"array values differ at [{_pos(x, k)}]{at}: {x.reshape(-1)[k]!r} != "
            f"{y.reshape(-1)[k]!r} ({int(unequal.sum())} of {x.size} elements differ)")


def _pos(arr: np.ndarray, flat: int) -> str:
    return ", ".join(str(i) for i in np.unravel_index(flat, arr.shape)) if arr.ndim else ""


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


# --------------------------------------------------------------- example frame

def example_frame(n_rows: int = 3, n_samples: int = 1_000, *, seed: int = 0,
                  task_level: bool = True) -> pd.DataFrame:
    """A frame in the materialized layout with every kind of cell.

    Rows are (Subject, Session[, Task]); the last row misses the ``pupil`` source (NaN
    cells).  Columns hold float/int/bool/datetime64/str-object arrays of ``n_samples``
    (per row slightly different lengths), a 2-D suite2p array, scalars of each kind, a
    Timestamp, and meta dicts with nested lists, tuples, arrays and None.
    """
    rng = np.random.default_rng(seed)
    names = ["Subject", "Session", "Task"] if task_level else ["Subject", "Session"]
    labels = [(f"STREHAB{7 + i // 2:02d}", f"ses-{i % 2 + 1:02d}", "task-widefield")[: len(names)]
              for i in range(n_rows)]
    index = pd.MultiIndex.from_tuples(labels, names=names)
    rows = [_example_row(rng, i, n_samples + 7 * i, missing_pupil=(i == n_rows - 1 and n_rows > 1))
            for i in range(n_rows)]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    data = {}
    for j, column in enumerate(columns):
        cells = np.empty(n_rows, dtype=object)
        for r, row in enumerate(rows):  # one by one: numpy would stack equal-length arrays
            cells[r] = row.get(column, np.nan)
        data[j] = cells
    df = pd.DataFrame(data, index=index, dtype=object, copy=False)
    df.columns = pd.MultiIndex.from_tuples(columns, names=["Source", "Feature"])
    df.attrs = {
        "datakit": {"version": "0.1.0", "built_at": "2025-07-06T16:40:00+00:00",
                    "python": "3.12", "packages": {"numpy": np.__version__}},
        "datakit_sources": sorted({c[0] for c in columns}),
        "datakit_roots": ["/data/experiment1"],
        "datakit_notes": ["example frame"],
    }
    return df


def _example_row(rng, i: int, n: int, *, missing_pupil: bool) -> dict:
    t = np.cumsum(rng.uniform(0.018, 0.022, n))
    start = np.datetime64("2025-07-06T16:10:35.612865", "us")
    device = np.array(["encoder", "nidaq", "mesoscope"], dtype=object)[rng.integers(0, 3, n)]
    device[:: max(n // 10, 1)] = None
    row = {
        ("dataqueue", "t"): t,
        ("dataqueue", "device_id"): device,
        ("dataqueue", "packet_ts"): start + (t * 1e6).astype("timedelta64[us]"),
        ("treadmill", "timestamp"): (491484019 + np.arange(n, dtype=np.int64) * 5000),
        ("treadmill", "distance_mm"): np.round(np.cumsum(rng.uniform(0, 0.5, n)), 2),
        ("treadmill", "speed_mm"): rng.normal(10.0, 3.0, n).astype(np.float32),
        ("treadmill", "moving"): rng.random(n) > 0.5,
        ("treadmill", "meta"): {"source_file": f"beh/run{i}_treadmill.csv", "n_rows": n,
                                "time_basis": "master", "wraps": [], "gain": 1.0},
        ("suite2p", "roi_fluorescence"): rng.normal(size=(4 + i, 50)).astype(np.float32),
        ("suite2p", "n_cells"): np.int64(4 + i),
        ("session_config", "duration"): 1200,
        ("session_config", "led_on"): bool(i % 2),
        ("session_config", "rate_hz"): 49.72,
        ("session_config", "protocol"): "widefield-α" if i else "widefield",
        ("session_config", "trial_duration"): np.nan,
        ("session_config", "comment"): None,
        ("notes", "timestamp"): pd.Timestamp("2025-07-06 16:11:17") + pd.Timedelta(days=i),
        ("notes", "note"): "Lots of running before being put under the scope",
        ("notes", "meta"): {"source_file": "notes.txt", "lines": (1, 2),
                            "window": np.array([0.0, np.nan, 1200.5]), "extra": None,
                            "nested": {"gain": np.float32(0.5), "ids": [1, 2, None]}},
    }
    if not missing_pupil:
        row[("pupil", "diameter_mm")] = np.where(rng.random(n // 2) < 0.05, np.nan,
                                                 rng.normal(2.0, 0.2, n // 2))
        row[("pupil", "meta")] = {"confidence_threshold": 0.7, "landmarks": ["left", "right"]}
    return row
