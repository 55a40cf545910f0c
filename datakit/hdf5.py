"""datakit's own HDF5 layout for a materialized frame: native arrays, no pickle anywhere.

pandas' ``to_hdf(format="fixed")`` pickles object columns and drops ``df.attrs``, and
PyTables pickles any attribute that is not a plain string or number.  This layout keeps
every byte in plain numeric datasets, so any HDF5 reader (h5py, MATLAB, HDFView) can see
the arrays and loading never runs code from the file.

Layout (format ``datakit-frame``, version 1), all under the group ``/<hdf_key>``::

    header          uint8   UTF-8 JSON (datakit.tagged_json): the format marker and
                            version, n_rows, the index and the columns (kind, names,
                            per-level dtype, labels), df.attrs, and one spec per column
                            (dtype, encoding, the dtype/ndim of each block)
    c<j>/           one group per column, j = position in df.columns; all rows together:
      tags          uint8  (n_rows,) what each cell is: 0 NaN (missing), 1 None,
                           2 array, 3 scalar, 4 JSON value
      block         int32  (n_rows,) which array or scalar block holds the cell
      a<k>_values   array block k: the elements of its cells, flattened and concatenated
                    (object arrays of pandas Timestamps: int64 UTC values in the
                    spec's datetime64 dtype, the zone in the spec's "tz")
      a<k>_shapes   int64  (cells * ndim,) each cell's shape (a cell's elements are
                           the next prod(shape) values)
      a<k>_lengths  str blocks: int64 length (characters) per element, -1 for None
      s<k>_values   scalar block k: one value per cell (+ s<k>_lengths for str)
      json          uint8  UTF-8 JSON list of the remaining cells (dicts, lists,
                           Timestamps, mixed object arrays...) in row order, tagged so
                           that they load back as the same types
      values        native (non-object) column: the column's values

Values are stored as: bool -> uint8, datetime64/timedelta64 -> int64 (the unit is in the
header), other numbers in native byte order, fixed-width str/bytes -> uint8, object
arrays of str (with None) -> UTF-8 text (NUL-separated unless an item holds NUL)
+ lengths in characters.  Arrays above 16 KiB are chunked and
compressed (zlib level 4 + shuffle by default, readable everywhere).  Column dtypes that
are neither object nor numpy numeric (pandas ``str``, ``Int64``, categories) are stored
as object cells and cast back on load.

Reading never unpickles.  PyTables unpickles any attribute that looks pickled as soon as
it opens a node, so on its first read datakit puts a small stand-in for ``pickle`` into
``tables.attributeset`` and ``tables.atom``: it refuses while the current thread is inside
a datakit read and passes through otherwise (pandas and other PyTables users are not
affected).  A refused attribute stays raw bytes and datakit never reads user attributes.
Only the nodes named by the header are opened, and each must be a plain numeric array.
Anything else is refused with a ValueError naming the file.
"""
from __future__ import annotations

import contextlib
import re
import threading
from pathlib import Path

import numpy as np
import msgspec
import pandas as pd

from . import tagged_json

FORMAT = "datakit-frame"
VERSION = 1
COMPRESS_MIN_BYTES = 16 * 1024
MISSING, NONE, ARRAY, SCALAR, JSON = range(5)
_NUM_KINDS = "biufcmM"
_KEY_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def require_tables():
    """Import PyTables or explain how to get it."""
    try:
        import tables
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "HDF5 needs PyTables: pip install 'datakit[hdf5]' (or pip install tables)"
        ) from exc
    return tables


def check_key(key: str) -> str:
    """Validate ``hdf_key`` ("dataset", "a/b"): names of letters, digits and _."""
    if not isinstance(key, str):
        raise TypeError(f"hdf_key must be a str, not {type(key).__name__}")
    parts = key.strip("/").split("/")
    if not all(_KEY_PART.match(p) for p in parts):
        raise ValueError(
            f"invalid hdf_key {key!r}: use names of letters, digits and '_' separated by '/'"
        )
    return "/".join(parts)


# ----------------------------------------------------------------- value storage

def to_storage(arr: np.ndarray) -> np.ndarray:
    """A 1-D plain numeric array holding ``arr``'s values (see from_storage)."""
    arr = np.ascontiguousarray(arr).reshape(-1)
    kind = arr.dtype.kind
    if kind in _NUM_KINDS:
        native = arr.dtype.newbyteorder("=")
        if arr.dtype != native:
            arr = arr.astype(native)
        if kind == "b":
            return arr.view(np.uint8)
        if kind in "mM":
            return arr.view(np.int64)
        return arr
    return arr.view(np.uint8)  # fixed-width str/bytes/void: raw bytes


def from_storage(stored: np.ndarray, dtype: np.dtype) -> np.ndarray:
    kind = dtype.kind
    if kind in _NUM_KINDS:
        native = dtype.newbyteorder("=")
        expected = {"b": np.uint8, "m": np.int64, "M": np.int64}.get(kind, native)
        if stored.dtype != np.dtype(expected):
            raise ValueError(f"stored values are {stored.dtype}, expected {np.dtype(expected)}")
        out = stored.view(native) if kind in "bmM" else stored
        return out if native == dtype else out.astype(dtype)
    if stored.dtype != np.uint8 or stored.size % max(dtype.itemsize, 1):
        raise ValueError(f"stored bytes do not hold whole {dtype} items")
    return stored.view(dtype) if dtype.itemsize else np.zeros(0, dtype)


def encode_strings(items: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Store an object array of str/None as UTF-8 text.

    Returns the text's bytes, each item's length in characters (-1 for None) and
    whether the items are separated by NUL (done when no item contains NUL: splitting
    is the fastest way back to Python strings).
    """
    none = pd.isna(items) if items.size else np.zeros(0, bool)
    strs = items[~none].tolist() if none.any() else items.tolist()
    text = "\x00".join(strs)
    separated = text.count("\x00") == max(len(strs) - 1, 0)
    if not separated:
        text = "".join(strs)
    lengths = np.full(items.size, -1, dtype=np.int64)
    lengths[~none] = np.fromiter(map(len, strs), dtype=np.int64, count=len(strs))
    return np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8), lengths, separated


def decode_strings(data: np.ndarray, lengths: np.ndarray, separated: bool) -> np.ndarray:
    """Inverse of :func:`encode_strings`: an object array of str/None."""
    present = lengths >= 0
    lens = lengths[present]
    text = data.tobytes().decode("utf-8", "surrogatepass")
    n = lens.size
    if len(text) != int(lens.sum()) + (max(n - 1, 0) if separated else 0):
        raise ValueError("string lengths do not match the stored text")
    if separated:
        strs = text.split("\x00") if n else []
        if len(strs) != n:
            raise ValueError("string count does not match the stored text")
    else:
        ends = np.cumsum(lens).tolist()
        strs = [text[e - k:e] for e, k in zip(ends, lens.tolist())]
    out = np.empty(lengths.size, dtype=object)
    out[present] = strs
    return out


# ----------------------------------------------------------------------- writing

class _Writer:
    def __init__(self, h5, filters):
        self.h5 = h5
        self.filters = filters

    def array(self, group, name: str, arr: np.ndarray) -> None:
        arr = np.ascontiguousarray(arr)
        if arr.nbytes >= COMPRESS_MIN_BYTES:
            self.h5.create_carray(group, name, obj=arr, filters=self.filters)
        else:
            self.h5.create_array(group, name, obj=arr)


def write_frame(df: pd.DataFrame, path, key: str = "dataset", *,
                complevel: int = 4, complib: str = "zlib") -> None:
    """Write ``df`` to a new HDF5 file at ``path`` (overwritten) in datakit's layout."""
    tables = require_tables()
    key = check_key(key)
    attrs = _checked_attrs(df.attrs)  # refuse early, before writing columns
    filters = tables.Filters(complevel=complevel, complib=complib, shuffle=True)
    try:
        with tables.open_file(str(path), mode="w") as h5:
            parent, _, name = ("/" + key).rpartition("/")
            group = h5.create_group(parent or "/", name, createparents=True)
            writer = _Writer(h5, filters)
            specs = [
                _write_column(writer, h5.create_group(group, f"c{j}"), df.iloc[:, j], df.columns[j])
                for j in range(df.shape[1])
            ]
            header = {
                "format": FORMAT, "version": VERSION, "n_rows": len(df),
                "index": _index_spec(df.index), "columns": _index_spec(df.columns),
                "attrs": attrs, "column_specs": specs,
            }
            writer.array(group, "header", np.frombuffer(tagged_json.dumps(header), np.uint8))
    except tables.HDF5ExtError as exc:  # disk full and other I/O failures inside HDF5
        raise OSError(f"HDF5 write to {path} failed: {_last_line(exc)}") from exc


def _checked_attrs(attrs: dict) -> dict:
    for k, v in attrs.items():
        try:
            tagged_json.encode(v)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"df.attrs[{k!r}] cannot be stored in HDF5: {exc}; save as "
                            "pickle to keep it") from None
    return dict(attrs)


def _write_column(writer: _Writer, grp, series: pd.Series, label) -> dict:
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in _NUM_KINDS:
        writer.array(grp, "values", to_storage(series.to_numpy()))
        return {"encoding": "native", "dtype": dtype.str}
    cells = series.to_numpy(dtype=object)
    n = cells.size
    tags = np.full(n, JSON, dtype=np.uint8)
    block = np.zeros(n, dtype=np.int32)
    arrays: dict[tuple, tuple[int, list]] = {}
    scalars: dict[tuple, tuple[int, list]] = {}
    json_cells = []
    for i, v in enumerate(cells.tolist()):
        t = type(v)
        if t is float and v != v:
            tags[i] = MISSING
        elif v is None:
            tags[i] = NONE
        elif (k := _array_key(v) if t is np.ndarray else _scalar_key(v, t)) is not None:
            target = arrays if t is np.ndarray else scalars
            tags[i] = ARRAY if target is arrays else SCALAR
            block[i] = _append(target, k, v)
        else:
            try:
                json_cells.append(tagged_json.encode(v))
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"cell (row {series.index[i]!r}, column {label!r}) cannot be stored "
                    f"in HDF5: {exc}; save as pickle to keep it"
                ) from None
    writer.array(grp, "tags", tags)
    if len(arrays) > 1 or len(scalars) > 1:
        writer.array(grp, "block", block)
    array_specs = [_write_array_block(writer, grp, f"a{b}", k, vals)
                   for k, (b, vals) in arrays.items()]
    scalar_specs = [_write_scalar_block(writer, grp, f"s{b}", k, vals)
                    for k, (b, vals) in scalars.items()]
    if json_cells:
        writer.array(grp, "json", np.frombuffer(msgspec.json.encode(json_cells), np.uint8))
    return {"encoding": "cells", "dtype": "object" if dtype == object else str(dtype),
            "arrays": array_specs, "scalars": scalar_specs, "json": bool(json_cells)}


def _append(groups: dict, key, value) -> int:
    """Add ``value`` to the block for ``key``; return the block's number."""
    if key not in groups:
        groups[key] = (len(groups), [])
    number, bucket = groups[key]
    bucket.append(value)
    return number


def _array_key(v: np.ndarray):
    dtype = v.dtype
    if dtype.fields is not None or dtype.subdtype is not None:
        return None
    if dtype.kind == "O":
        items = v.reshape(-1).tolist()
        kinds = set(map(type, items))
        if kinds <= {str, type(None)}:
            return ("str", "O", v.ndim)
        if kinds == {pd.Timestamp} and _same_zone(items):  # e.g. earlier dataqueue packet_ts
            return ("ts", str(pd.DatetimeIndex(items[:1]).dtype), v.ndim)
        return None
    return ("num" if dtype.kind in _NUM_KINDS else "raw", dtype.str, v.ndim)


def _scalar_key(v, t):
    if t is bool:
        return ("py", "|b1")
    if t is int:
        return ("py", "<i8") if -(2**63) <= v < 2**63 else None
    if t is float:
        return ("py", "<f8")
    if t is str:
        return ("str", "O")
    if isinstance(v, np.generic) and v.dtype.kind in _NUM_KINDS:
        return ("np", v.dtype.str)
    return None


def _same_zone(items) -> bool:
    tz = items[0].tz
    return all(item.tz == tz for item in items)


def _write_array_block(writer, grp, prefix, key, cells) -> dict:
    kind, dtype, ndim = key
    flat = np.concatenate([c.reshape(-1) for c in cells])
    shapes = np.array([c.shape for c in cells], dtype=np.int64).reshape(-1)
    writer.array(grp, f"{prefix}_shapes", shapes)
    spec = {"kind": kind, "dtype": dtype, "ndim": ndim, "count": len(cells)}
    if kind == "ts":  # object arrays of Timestamps: int64 in the unit, the zone in the spec
        index = pd.DatetimeIndex(flat)
        spec["tz"] = None if index.tz is None else str(index.tz)
        index = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
        spec["dtype"] = index.dtype.str
        writer.array(grp, f"{prefix}_values", index.asi8)
    elif kind == "str":
        data, lengths, spec["sep"] = encode_strings(flat)
        writer.array(grp, f"{prefix}_values", data)
        writer.array(grp, f"{prefix}_lengths", lengths)
    else:
        writer.array(grp, f"{prefix}_values", to_storage(flat))
    return spec


def _write_scalar_block(writer, grp, prefix, key, values) -> dict:
    kind, dtype = key
    spec = {"kind": kind, "dtype": dtype, "count": len(values)}
    if kind == "str":
        data, lengths, spec["sep"] = encode_strings(np.array(values, dtype=object))
        writer.array(grp, f"{prefix}_values", data)
        writer.array(grp, f"{prefix}_lengths", lengths)
    else:
        writer.array(grp, f"{prefix}_values", to_storage(np.array(values, dtype=dtype)))
    return spec


def _index_spec(idx: pd.Index) -> dict:
    if isinstance(idx, pd.MultiIndex):
        return {"kind": "multi", "names": list(idx.names),
                "levels": [_level_spec(idx.get_level_values(i)) for i in range(idx.nlevels)]}
    if type(idx) is pd.RangeIndex:
        return {"kind": "range", "name": idx.name,
                "start": idx.start, "stop": idx.stop, "step": idx.step}
    return {"kind": "single", "name": idx.name, **_level_spec(idx)}


def _level_spec(level: pd.Index) -> dict:
    return {"dtype": str(level.dtype), "values": level.to_numpy()}


def _last_line(exc: BaseException) -> str:
    """The telling line of an HDF5 error back trace (or of any message)."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    for line in lines:
        if line.startswith("truncated file"):
            return f"the file is truncated ({line}); was a copy or a save interrupted?"
        if "signature not found" in line:
            return "not an HDF5 file (no HDF5 signature)"
    return lines[-1] if lines else type(exc).__name__


# ----------------------------------------------------------------------- reading

_guard = threading.local()


class _UnpicklingRefused(Exception):
    pass


class _PickleShim:
    """Stands in for ``pickle`` inside PyTables: refuses while datakit reads a file."""

    def __init__(self, real):
        self._real = real

    def loads(self, *args, **kwargs):
        if getattr(_guard, "depth", 0):
            raise _UnpicklingRefused("datakit does not unpickle HDF5 content")
        return self._real.loads(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._real, name)


@contextlib.contextmanager
def _no_unpickling():
    import tables.atom
    import tables.attributeset

    for module in (tables.attributeset, tables.atom):
        if not isinstance(module.pickle, _PickleShim):
            module.pickle = _PickleShim(module.pickle)
    _guard.depth = getattr(_guard, "depth", 0) + 1
    try:
        yield
    finally:
        _guard.depth -= 1


def read_frame(path, key: str = "dataset") -> pd.DataFrame:
    """Read a frame written by :func:`write_frame`; refuse anything else (ValueError)."""
    tables = require_tables()
    key = check_key(key)
    path = Path(path)
    with _no_unpickling():
        try:
            h5 = tables.open_file(str(path), mode="r")
        except (tables.HDF5ExtError, ValueError) as exc:
            raise ValueError(f"{path} is not a readable HDF5 file: {_last_line(exc)}") from None
        try:
            with h5:
                group = _dataset_group(h5, key, path)
                return _read_group(group, path)
        except ValueError as exc:
            if str(path) in str(exc):
                raise
            raise ValueError(f"cannot load {path} (key {key!r}): {exc}") from exc
        except (tables.HDF5ExtError, tables.NoSuchNodeError, _UnpicklingRefused, KeyError,
                IndexError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"cannot load {path} (key {key!r}): the file is damaged or not in datakit's "
                f"HDF5 layout ({type(exc).__name__}: {_last_line(exc)})"
            ) from exc


def _dataset_group(h5, key: str, path: Path):
    import tables

    try:
        group = h5.get_node("/" + key)
    except tables.NoSuchNodeError:
        keys = sorted(h5.root._v_children)
        raise ValueError(f"no dataset {key!r} in {path}; keys present: {keys}") from None
    if not isinstance(group, tables.Group) or "header" not in group._v_children:
        children = sorted(getattr(group, "_v_children", {}))[:8]
        hint = (" (it looks like a pandas to_hdf file, which stores pickles: open it with "
                "datakit.load_dataset(path, allow_pickle=True) only if you trust its origin, "
                "or rewrite it with 'datakit convert OLD NEW')"
                if any(c.startswith(("axis0", "block0_", "table")) for c in children) else "")
        raise ValueError(f"{path} key {key!r} is not in datakit's HDF5 layout: no header "
                         f"node, found {children}{hint}")
    return group


def _leaf(group, name: str) -> np.ndarray:
    import tables

    node = group._f_get_child(name)
    atom = node.atom if isinstance(node, tables.Array) else None
    if atom is None or atom.kind not in ("bool", "int", "uint", "float", "complex") or atom.shape:
        raise ValueError(f"node {group._v_pathname}/{name} is not a plain numeric array")
    arr = np.asarray(node.read())
    if arr.ndim != 1:
        raise ValueError(f"node {group._v_pathname}/{name} is not 1-D")
    return arr


def _read_group(group, path: Path) -> pd.DataFrame:
    header = tagged_json.loads(_leaf(group, "header").astype(np.uint8).tobytes())
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} was not written by datakit (no '{FORMAT}' marker)")
    if header.get("version") != VERSION:
        raise ValueError(f"{path} uses datakit HDF5 layout version {header.get('version')!r}; "
                         f"this datakit reads version {VERSION} (upgrade datakit)")
    n = int(header["n_rows"])
    index = _index_from_spec(header["index"])
    columns = _index_from_spec(header["columns"])
    specs = header["column_specs"]
    if len(index) != n or len(columns) != len(specs):
        raise ValueError("index/columns do not match the stored data")
    data, native = {}, {}
    for j, spec in enumerate(specs):
        grp = group._f_get_child(f"c{j}")
        if spec["encoding"] == "native":
            native[j] = from_storage(_leaf(grp, "values"), np.dtype(spec["dtype"]))
            data[j] = np.empty(n, dtype=object)
        else:
            data[j] = _read_cells(grp, spec, n)
        if len(data[j]) != n or (j in native and len(native[j]) != n):
            raise ValueError(f"column {j} has the wrong length")
    df = pd.DataFrame(data, index=index, dtype=object, copy=False)
    for j, values in native.items():
        df.isetitem(j, values)
    for j, spec in enumerate(specs):
        if spec["encoding"] == "cells" and spec["dtype"] != "object":
            with contextlib.suppress(TypeError, ValueError):
                df.isetitem(j, df.iloc[:, j].astype(spec["dtype"]))
    df.columns = columns
    df.attrs = header["attrs"]
    return df


def _read_cells(grp, spec: dict, n: int) -> np.ndarray:
    tags = _leaf(grp, "tags")
    if tags.size != n:
        raise ValueError("cell tags do not match the row count")
    block = _leaf(grp, "block") if "block" in grp._v_children else np.zeros(n, np.int32)
    out = np.empty(n, dtype=object)
    out[tags == MISSING] = np.nan
    for code, specs, reader, prefix in ((ARRAY, spec["arrays"], _read_array_block, "a"),
                                        (SCALAR, spec["scalars"], _read_scalar_block, "s")):
        for b, bspec in enumerate(specs):
            rows = np.flatnonzero((tags == code) & (block == b))
            values = reader(grp, f"{prefix}{b}", bspec)
            if len(values) != rows.size:
                raise ValueError(f"block {prefix}{b} holds {len(values)} cells, expected {rows.size}")
            for r, v in zip(rows.tolist(), values):
                out[r] = v
    rows = np.flatnonzero(tags == JSON)
    if rows.size:
        cells = msgspec.json.decode(_leaf(grp, "json").astype(np.uint8).tobytes())
        if not isinstance(cells, list) or len(cells) != rows.size:
            raise ValueError("JSON cells do not match the row tags")
        for r, v in zip(rows.tolist(), cells):
            out[r] = tagged_json.decode(v)
    return out


def _read_array_block(grp, prefix: str, spec: dict) -> list:
    ndim, count = int(spec["ndim"]), int(spec["count"])
    shapes = _leaf(grp, f"{prefix}_shapes").astype(np.int64).reshape(count, ndim)
    if (shapes < 0).any():
        raise ValueError(f"negative shape in {prefix}")
    sizes = shapes.prod(axis=1)
    if spec["kind"] == "str":
        flat = decode_strings(_leaf(grp, f"{prefix}_values").astype(np.uint8),
                              _leaf(grp, f"{prefix}_lengths").astype(np.int64), bool(spec["sep"]))
    elif spec["kind"] == "ts":  # back to Timestamp objects (UTC values, zone from the spec)
        dtype = _checked_dtype(spec["dtype"])
        if dtype.kind != "M":
            raise ValueError(f"{prefix}: a Timestamp block must be datetime64, got {dtype}")
        index = pd.DatetimeIndex(from_storage(_leaf(grp, f"{prefix}_values"), dtype))
        if spec.get("tz"):
            index = index.tz_localize("UTC").tz_convert(spec["tz"])
        flat = index.astype(object).to_numpy()
    else:
        flat = from_storage(_leaf(grp, f"{prefix}_values"), _checked_dtype(spec["dtype"]))
    if flat.size != sizes.sum():
        raise ValueError(f"{prefix} holds {flat.size} values, its shapes need {sizes.sum()}")
    pieces = np.split(flat, np.cumsum(sizes)[:-1]) if count else []
    # each cell owns its data, like after unpickling (no hidden shared buffer)
    return [p.reshape(shape).copy() for p, shape in zip(pieces, map(tuple, shapes.tolist()))]


def _read_scalar_block(grp, prefix: str, spec: dict) -> list:
    if spec["kind"] == "str":
        return decode_strings(_leaf(grp, f"{prefix}_values").astype(np.uint8),
                              _leaf(grp, f"{prefix}_lengths").astype(np.int64),
                              bool(spec["sep"])).tolist()
    values = from_storage(_leaf(grp, f"{prefix}_values"), _checked_dtype(spec["dtype"]))
    return values.tolist() if spec["kind"] == "py" else list(values)


def _checked_dtype(text: str) -> np.dtype:
    dtype = np.dtype(str(text))
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"stored dtype {text!r} is not a plain dtype")
    return dtype


def _index_from_spec(spec: dict) -> pd.Index:
    kind = spec["kind"]
    if kind == "range":
        return pd.RangeIndex(spec["start"], spec["stop"], spec["step"], name=spec["name"])
    if kind == "single":
        return _level_from_spec(spec, spec["name"])
    if kind == "multi":
        levels = [_level_from_spec(s, name) for s, name in zip(spec["levels"], spec["names"])]
        return pd.MultiIndex.from_arrays(levels, names=spec["names"])
    raise ValueError(f"unknown index kind {kind!r}")


def _level_from_spec(spec: dict, name) -> pd.Index:
    values, dtype = spec["values"], spec["dtype"]
    if not isinstance(values, np.ndarray):
        raise ValueError("index labels are not an array")
    if dtype == "object":
        return pd.Index(values, dtype=object, name=name)
    idx = pd.Index(values, name=name)
    if str(idx.dtype) != dtype:
        with contextlib.suppress(TypeError, ValueError):
            idx = idx.astype(dtype)
    return idx
