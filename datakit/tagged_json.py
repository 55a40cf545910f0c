"""Exact JSON for the values found in materialized frames, without pickle.

Plain JSON loses types: NaN becomes ``null``, tuples become lists, numpy arrays and
scalars, ``Timestamp`` and big ints do not exist.  :func:`encode` turns a value into a
tree of plain JSON types in which every value JSON cannot carry exactly is replaced by a
*tagged* object ``{"__datakit__": <tag>, ...}``; :func:`decode` turns the tree back into
values of the same types.  :func:`dumps`/:func:`loads` add the (msgspec JSON) text step.

Tags: ``float`` (NaN/inf), ``int`` (outside int64), ``tuple``, ``set``, ``frozenset``,
``dict`` (dicts with non-str keys or a key named ``__datakit__``), ``nd`` (numpy array:
dtype, shape, base64 of the raw bytes, or a list of items for object arrays), ``np``
(numpy scalar), ``ts``/``td`` (pandas Timestamp/Timedelta: integer in its unit, unit, tz),
``nat``, ``na``, ``datetime``/``date``/``time``/``timedelta`` (standard library),
``complex``, ``bytes``, ``path``, ``frame`` (a pandas DataFrame with a flat index and
flat column labels: labels, dtypes and one ``nd`` per column).  Anything else (a custom
object, a MultiIndex frame) raises ``TypeError``: such a value needs the pickle format.

Decoding only ever builds these types; it never imports or calls anything named by the
data, so it is safe on untrusted input.
"""
from __future__ import annotations

import base64
import datetime as _dt
import math
import pathlib
from typing import Any

import numpy as np
import msgspec
import pandas as pd

TAG = "__datakit__"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MAX_DEPTH = 200


def dumps(value: Any) -> bytes:
    """UTF-8 JSON text of ``encode(value)``."""
    return msgspec.json.encode(encode(value))


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Inverse of :func:`dumps`."""
    return decode(msgspec.json.decode(data))


def encode(value: Any) -> Any:
    """A tree of dict/list/str/int/float/bool/None that :func:`decode` maps back."""
    return _enc(value, 0, set())


def decode(tree: Any) -> Any:
    """Inverse of :func:`encode`."""
    return _dec(tree)


def _tagged(tag: str, **fields) -> dict:
    out = {TAG: tag}
    out.update(fields)
    return out


def _b64(buf: bytes) -> str:
    return base64.b64encode(buf).decode("ascii")


def _plain_dtype(dtype: np.dtype) -> None:
    """Refuse structured dtypes (and object dtypes hiding inside one)."""
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biufcmMUSVO":
        raise TypeError(f"numpy dtype {dtype} cannot be stored")


def _enc(v: Any, depth: int, active: set) -> Any:
    t = type(v)
    if v is None or t is bool or t is str:
        return v
    if t is int:
        return v if _INT64_MIN <= v <= _INT64_MAX else _tagged("int", v=str(v))
    if t is float:
        return v if math.isfinite(v) else _tagged("float", v=repr(v))
    if depth > _MAX_DEPTH:
        raise ValueError(f"value nested deeper than {_MAX_DEPTH} levels")
    if isinstance(v, pd.DataFrame):
        return _enc_frame(v, depth + 1, active)
    if t in (list, tuple, set, frozenset, dict) or isinstance(v, (np.ndarray, dict)):
        if id(v) in active:
            raise ValueError("cyclic reference in a value to be stored")
        active.add(id(v))
        try:
            return _enc_container(v, t, depth + 1, active)
        finally:
            active.discard(id(v))
    return _enc_atom(v, t)


def _plain_leaf(x) -> bool:
    """A value plain JSON holds exactly (encoded as it is)."""
    t = type(x)
    if t is float:
        return math.isfinite(x)
    if t is int:
        return _INT64_MIN <= x <= _INT64_MAX
    return x is None or t is str or t is bool


def _plain_records(items: list) -> bool:
    """True for dicts with the same str keys and plain JSON values (a camera's per-frame
    ``{"x": .., "y": .., "z": ..}``): they are encoded as they are, checked a key at a
    time rather than value by value."""
    if not items or type(items[0]) is not dict:
        return False
    first = items[0]
    keys = first.keys()
    if TAG in first or not all(type(k) is str for k in keys):
        return False
    if not all(type(d) is dict and d.keys() == keys for d in items):
        return False
    for key in keys:
        values = [d[key] for d in items]
        kinds = set(map(type, values))
        if kinds == {float}:
            if not np.isfinite(np.fromiter(values, float, len(values))).all():
                return False
        elif not kinds <= {str, bool, type(None)} and not all(map(_plain_leaf, values)):
            return False
    return True


def _enc_container(v, t, depth, active):
    if t is list:
        return [_enc(x, depth, active) for x in v]
    if t in (tuple, set, frozenset):
        items = v if t is tuple else sorted(v, key=repr)
        return _tagged(t.__name__, v=[_enc(x, depth, active) for x in items])
    if isinstance(v, np.ndarray):
        if t is not np.ndarray:  # a mask or matrix semantics would be lost silently
            raise TypeError(f"cannot store a {t.__module__}.{t.__qualname__} without pickle")
        dtype = v.dtype
        _plain_dtype(dtype)
        shape = list(v.shape)
        if dtype.kind == "O":
            items = v.reshape(-1).tolist()
            if not _plain_records(items):
                items = [_enc(x, depth, active) for x in items]
            return _tagged("nd", dtype="O", shape=shape, v=items)
        return _tagged("nd", dtype=dtype.str, shape=shape, v=_b64(np.ascontiguousarray(v).tobytes()))
    # dict (or subclass)
    if all(type(k) is str for k in v) and TAG not in v:
        if t is dict and all(map(_plain_leaf, v.values())):   # e.g. {x, y, z} per frame
            return v
        return {k: _enc(x, depth, active) for k, x in v.items()}
    return _tagged("dict", v=[[_enc(k, depth, active), _enc(x, depth, active)] for k, x in v.items()])


def _enc_frame(df: pd.DataFrame, depth: int, active: set) -> dict:
    """A flat DataFrame: column labels, dtypes and values; index as values or a range."""
    if isinstance(df.columns, pd.MultiIndex) or isinstance(df.index, pd.MultiIndex):
        raise TypeError("cannot store a DataFrame with a MultiIndex without pickle")
    columns, dtypes, data = [], [], []
    for j in range(df.shape[1]):
        series = df.iloc[:, j]
        dtype = series.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
            values = series.to_numpy()
        else:  # str, object, categories, nullable: plain Python items
            values = series.to_numpy(dtype=object, copy=True)
            values[pd.isna(values)] = None
        columns.append(_enc(df.columns[j], depth, active))
        dtypes.append(str(dtype))
        data.append(_enc(values, depth, active))
    index = df.index
    if type(index) is pd.RangeIndex:
        encoded_index = {"range": [index.start, index.stop, index.step]}
    else:
        encoded_index = {"values": _enc(index.to_numpy(dtype=object)
                                        if index.dtype == object or not isinstance(index.dtype, np.dtype)
                                        else index.to_numpy(), depth, active)}
    encoded_index["dtype"] = str(index.dtype)
    return _tagged("frame", columns=columns, columns_dtype=str(df.columns.dtype), dtypes=dtypes,
                   data=data, index=encoded_index, index_name=_enc(index.name, depth, active))


def _dec_frame(x) -> pd.DataFrame:
    columns = [_dec(c) for c in x["columns"]]
    data = [_dec(d) for d in x["data"]]
    if len(columns) != len(data) or len(columns) != len(x["dtypes"]):
        raise ValueError("stored DataFrame has mismatched columns")
    spec = x["index"]
    if "range" in spec:
        index = pd.RangeIndex(*[int(v) for v in spec["range"]])
    else:
        index = _as_dtype(pd.Index(_dec(spec["values"])), spec.get("dtype"))
    index.name = _dec(x.get("index_name"))
    df = pd.DataFrame(dict(enumerate(data)), index=index) if data else pd.DataFrame(index=index)
    for j, dtype in enumerate(x["dtypes"]):
        if str(df.iloc[:, j].dtype) != dtype:
            try:
                df.isetitem(j, df.iloc[:, j].astype(dtype))
            except (TypeError, ValueError):
                pass  # a dtype this pandas does not know: keep the plain values
    if columns:
        df.columns = _as_dtype(pd.Index(columns, dtype=object), x.get("columns_dtype"))
    return df


def _as_dtype(index: pd.Index, dtype) -> pd.Index:
    if dtype is None or str(index.dtype) == dtype:
        return index
    try:
        return index.astype(dtype)
    except (TypeError, ValueError):
        return index


def _enc_atom(v, t):
    if isinstance(v, np.generic):
        dtype = v.dtype
        _plain_dtype(dtype)
        if dtype.kind == "O":
            raise TypeError("numpy object scalar cannot be stored")
        return _tagged("np", dtype=dtype.str, v=_b64(np.asarray(v).tobytes()))
    if v is pd.NaT:
        return _tagged("nat")
    if v is pd.NA:
        return _tagged("na")
    if isinstance(v, pd.Timestamp):
        return _tagged("ts", v=int(v.asm8.view("i8")), unit=v.unit, **_tz_fields(v))
    if isinstance(v, pd.Timedelta):
        return _tagged("td", v=int(v.asm8.view("i8")), unit=v.unit)
    if isinstance(v, _dt.datetime):
        return _tagged("datetime", v=v.isoformat())
    if isinstance(v, _dt.date):
        return _tagged("date", v=v.isoformat())
    if isinstance(v, _dt.time):
        return _tagged("time", v=v.isoformat())
    if isinstance(v, _dt.timedelta):
        return _tagged("timedelta", v=[v.days, v.seconds, v.microseconds])
    if t is complex:
        return _tagged("complex", v=[_enc(v.real, 0, set()), _enc(v.imag, 0, set())])
    if t in (bytes, bytearray):
        return _tagged("bytes", v=_b64(bytes(v)))
    if isinstance(v, pathlib.PurePath):
        return _tagged("path", v=str(v))
    # subclasses of builtins (str/int/float enums and the like) keep their value
    for base in (str, int, float):
        if isinstance(v, base):
            return _enc(base(v), 0, set())
    raise TypeError(
        f"cannot store a value of type {t.__module__}.{t.__qualname__} without pickle"
    )


def _tz_fields(ts: pd.Timestamp) -> dict:
    if ts.tz is None:
        return {}
    offset = ts.utcoffset()
    return {"tz": str(ts.tz), "offset_s": offset.total_seconds() if offset is not None else 0.0}


def _dec(x: Any) -> Any:
    t = type(x)
    if t is list:
        return [_dec(i) for i in x]
    if t is not dict:
        return x
    tag = x.get(TAG)
    if tag is None:
        if not any(type(v) in (dict, list) for v in x.values()):   # plain leaves: as decoded
            return x
        return {k: _dec(v) for k, v in x.items()}
    try:
        decoder = _DECODERS[tag]
    except (KeyError, TypeError):
        raise ValueError(f"unknown tag {tag!r} in stored value") from None
    return decoder(x)


def _dec_nd(x):
    dtype = np.dtype(object) if x["dtype"] == "O" else _raw_dtype(x["dtype"])
    shape = tuple(int(n) for n in x["shape"])
    if dtype.kind == "O":
        out = np.empty(len(x["v"]), dtype=object)
        for i, item in enumerate(x["v"]):
            out[i] = _dec(item)
        return out.reshape(shape)
    return np.frombuffer(base64.b64decode(x["v"]), dtype=dtype).reshape(shape).copy()


def _raw_dtype(text: str) -> np.dtype:
    """A dtype that raw bytes may be read into (never object)."""
    dtype = np.dtype(str(text))
    _plain_dtype(dtype)
    if dtype.hasobject:
        raise ValueError(f"stored dtype {text!r} is not a plain dtype")
    return dtype


def _dec_np(x):
    dtype = _raw_dtype(x["dtype"])
    return np.frombuffer(base64.b64decode(x["v"]), dtype=dtype)[0]


def _dec_ts(x):
    ts = pd.Timestamp(np.datetime64(int(x["v"]), x["unit"]))
    if "tz" not in x:
        return ts
    ts = ts.tz_localize("UTC")
    try:
        return ts.tz_convert(x["tz"])
    except Exception:  # a zone name this machine does not know: keep the offset
        return ts.tz_convert(_dt.timezone(_dt.timedelta(seconds=float(x["offset_s"]))))


_DECODERS = {
    "float": lambda x: float(x["v"]),
    "int": lambda x: int(x["v"]),
    "tuple": lambda x: tuple(_dec(i) for i in x["v"]),
    "set": lambda x: {_dec(i) for i in x["v"]},
    "frozenset": lambda x: frozenset(_dec(i) for i in x["v"]),
    "dict": lambda x: {_dec(k): _dec(v) for k, v in x["v"]},
    "nd": _dec_nd,
    "np": _dec_np,
    "ts": _dec_ts,
    "td": lambda x: pd.Timedelta(np.timedelta64(int(x["v"]), x["unit"])),
    "nat": lambda x: pd.NaT,
    "na": lambda x: pd.NA,
    "datetime": lambda x: _dt.datetime.fromisoformat(x["v"]),
    "date": lambda x: _dt.date.fromisoformat(x["v"]),
    "time": lambda x: _dt.time.fromisoformat(x["v"]),
    "timedelta": lambda x: _dt.timedelta(*x["v"]),
    "complex": lambda x: complex(_dec(x["v"][0]), _dec(x["v"][1])),
    "bytes": lambda x: base64.b64decode(x["v"]),
    "path": lambda x: pathlib.Path(x["v"]),
    "frame": _dec_frame,
}
