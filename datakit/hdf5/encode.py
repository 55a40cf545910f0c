"""How one cell value becomes plain numeric arrays, and back (no HDF5 here).

Every cell of an object column is one of: NaN (no file), None, an array, a scalar or a
JSON value.  Arrays and scalars go to *blocks* of cells sharing a storage kind, keyed by
:func:`classify`; the rest is tagged JSON (:mod:`datakit.tagged_json`).
"""
from __future__ import annotations

from typing import NamedTuple

import msgspec
import numpy as np
import pandas as pd

MISSING, NONE, ARRAY, SCALAR, JSON = range(5)
NUM_KINDS = "biufcmM"


# ------------------------------------------------------------------ plain values

def to_storage(arr: np.ndarray) -> np.ndarray:
    """A 1-D plain numeric array holding ``arr``'s values (see from_storage)."""
    arr = np.ascontiguousarray(arr).reshape(-1)
    kind = arr.dtype.kind
    if kind in NUM_KINDS:
        native = arr.dtype.newbyteorder("=")
        if arr.dtype != native:
            arr = arr.astype(native)
        if kind == "b":
            return arr.view(np.uint8)
        if kind in "mM":
            return arr.view(np.int64)
        return arr
    return arr.view(np.uint8)  # fixed-width str/bytes/void: raw bytes


def stored_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype :func:`to_storage` gives for values of ``dtype``."""
    kind = dtype.kind
    if kind in NUM_KINDS:
        return np.dtype({"b": np.uint8, "m": np.int64, "M": np.int64}.get(kind, dtype.newbyteorder("=")))
    return np.dtype(np.uint8)


def from_storage(stored: np.ndarray, dtype: np.dtype) -> np.ndarray:
    kind = dtype.kind
    if kind in NUM_KINDS:
        native = dtype.newbyteorder("=")
        expected = {"b": np.uint8, "m": np.int64, "M": np.int64}.get(kind, native)
        if stored.dtype != np.dtype(expected):
            raise ValueError(f"stored values are {stored.dtype}, expected {np.dtype(expected)}")
        out = stored.view(native) if kind in "bmM" else stored
        return out if native == dtype else out.astype(dtype)
    if stored.dtype != np.uint8 or stored.size % max(dtype.itemsize, 1):
        raise ValueError(f"stored bytes do not hold whole {dtype} items")
    return stored.view(dtype) if dtype.itemsize else np.zeros(0, dtype)


def checked_dtype(text: str) -> np.dtype:
    dtype = np.dtype(str(text))
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"stored dtype {text!r} is not a plain dtype")
    return dtype


# ----------------------------------------------------------------------- strings

def string_items(items: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The present (non-None) items of an object array of str/None, and the mask of None."""
    none = pd.isna(items) if items.size else np.zeros(0, bool)
    strs = items[~none].tolist() if none.any() else items.tolist()
    return strs, none


def separable(strs: list[str]) -> bool:
    """True when no item holds NUL, so NUL can separate the items."""
    return not any("\x00" in s for s in strs)


def encode_strings(items: np.ndarray, separated: bool | None = None
                   ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Store an object array of str/None as UTF-8 text.

    Returns the text's bytes, each item's length in characters (-1 for None) and
    whether the items are separated by NUL (done when no item contains NUL: splitting
    is the fastest way back to Python strings).
    """
    strs, none = string_items(items)
    if separated is None:
        separated = separable(strs)
    text = ("\x00" if separated else "").join(strs)
    lengths = np.full(items.size, -1, dtype=np.int64)
    lengths[~none] = np.fromiter(map(len, strs), dtype=np.int64, count=len(strs))
    return np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8), lengths, separated


def decode_strings(data: np.ndarray, lengths: np.ndarray, separated: bool, *,
                   leading: bool = False) -> np.ndarray:
    """Inverse of :func:`encode_strings`: an object array of str/None.

    ``leading``: a part of a separated block that may start with the separator that
    follows an earlier item (dropped when the lengths say it is there).
    """
    present = lengths >= 0
    lens = lengths[present]
    text = data.tobytes().decode("utf-8", "surrogatepass")
    n = lens.size
    expected = int(lens.sum()) + (max(n - 1, 0) if separated else 0)
    if separated and leading and n and len(text) == expected + 1 and text[:1] == "\x00":
        text = text[1:]
    if len(text) != expected:
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


# ------------------------------------------------------------------ cell kinds

def classify(value) -> tuple[int, tuple | None]:
    """``(tag, block key)`` of one cell: MISSING, NONE, ARRAY/SCALAR (with the key of
    the block it joins) or JSON."""
    t = type(value)
    if t is float and value != value:
        return MISSING, None
    if value is None:
        return NONE, None
    if t is np.ndarray:
        key = array_key(value)
        return (ARRAY, key) if key is not None else (JSON, None)
    key = scalar_key(value, t)
    return (SCALAR, key) if key is not None else (JSON, None)


def array_key(v: np.ndarray):
    """The block of an array cell: (kind, dtype, ndim[, separated]) or None (JSON)."""
    dtype = v.dtype
    if dtype.fields is not None or dtype.subdtype is not None:
        return None
    if dtype.kind == "O":
        items = v.reshape(-1).tolist()
        kinds = set(map(type, items))
        if kinds <= {str, type(None)}:
            return ("str", "O", v.ndim, separable([s for s in items if s is not None]))
        if kinds == {pd.Timestamp} and _same_zone(items):  # e.g. earlier dataqueue packet_ts
            index = pd.DatetimeIndex(items)
            tz = None if index.tz is None else str(index.tz)
            return ("ts", np.dtype(f"datetime64[{index.unit}]").str, v.ndim, tz)
        return None
    return ("num" if dtype.kind in NUM_KINDS else "raw", dtype.str, v.ndim)


def scalar_key(v, t=None):
    """The block of a scalar cell: (kind, dtype[, separated]) or None (JSON)."""
    t = type(v) if t is None else t
    if t is bool:
        return ("py", "|b1")
    if t is int:
        return ("py", "<i8") if -(2**63) <= v < 2**63 else None
    if t is float:
        return ("py", "<f8")
    if t is str:
        return ("str", "O", "\x00" not in v)
    if isinstance(v, np.generic) and v.dtype.kind in NUM_KINDS:
        return ("np", v.dtype.str)
    return None


def _same_zone(items) -> bool:
    tz = items[0].tz
    return all(item.tz == tz for item in items)


def timestamps_to_storage(flat: np.ndarray, dtype: str) -> np.ndarray:
    """An object array of Timestamps (one zone) -> int64 UTC values in ``dtype``'s unit."""
    index = pd.DatetimeIndex(flat).as_unit(np.datetime_data(np.dtype(dtype))[0])
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.asi8


def timestamps_from_storage(values: np.ndarray, dtype: np.dtype, tz: str | None) -> np.ndarray:
    index = pd.DatetimeIndex(from_storage(values, dtype))
    if tz:
        index = index.tz_localize("UTC").tz_convert(tz)
    return index.astype(object).to_numpy()


# ------------------------------------------------------------------ one cell, encoded

class Encoded(NamedTuple):
    """One cell turned into what the column writer appends (picklable, so that workers
    can do this part of a save in parallel; the writer only writes)."""

    tag: int
    key: tuple | None
    parts: tuple                  # ARRAY: (shape, values[, lengths]); SCALAR: (value,);
                                  # JSON: (bytes,); MISSING/NONE: ()
    error: str | None = None      # why the value cannot be stored (JSON refused it)


def encode_cell(value) -> Encoded:
    """``value`` as an :class:`Encoded` cell (never raises for a value it cannot store:
    the writer raises, naming the row and column)."""
    tag, key = classify(value)
    if tag == ARRAY:
        shape = np.asarray(value.shape, dtype=np.int64)
        flat = value.reshape(-1)
        if key[0] == "str":
            data, lengths, _ = encode_strings(flat, key[3])
            return Encoded(tag, key, (shape, data, lengths))
        if key[0] == "ts":
            return Encoded(tag, key, (shape, timestamps_to_storage(flat, key[1])))
        return Encoded(tag, key, (shape, to_storage(flat)))
    if tag == SCALAR:
        return Encoded(tag, key, (value,))
    if tag == JSON:
        from .. import tagged_json

        try:
            return Encoded(tag, None, (msgspec.json.encode(tagged_json.encode(value)),))
        except (TypeError, ValueError) as exc:
            return Encoded(tag, None, (), str(exc))
    return Encoded(tag, None, ())
