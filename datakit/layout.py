"""How a loaded stream becomes materialized features, and the checks every stream passes.

Feature rules (stable cell types):

* time series and interval sources: every column of the value table becomes a 1-D numpy
  array of the stream's length (also when constant), plus ``time_elapsed_s`` equal to
  ``t``; a mapping value contributes its entries as they are (e.g. 2-D suite2p arrays);
* table sources (one record per cell): one scalar feature per field;
* every source: its meta dict under feature ``meta`` (session-level meta included).

Categorical columns become object arrays of ``str``; timezone-aware datetimes become
naive UTC ``datetime64``; nullable integer columns with gaps become float64 with NaN.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .sources.base import INTERVALS, TABLE, TIMESERIES, LoadedStream

TIME_FEATURE = "time_elapsed_s"
META_FEATURE = "meta"


class StreamContractError(ValueError):
    """A source returned a stream that breaks the LoadedStream contract."""


def column_array(series: pd.Series) -> np.ndarray:
    """A DataFrame column as a plain 1-D numpy array (see module doc for conversions)."""
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    if isinstance(dtype, pd.CategoricalDtype):
        values = series.astype(object).to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = None
        return values
    if isinstance(dtype, pd.StringDtype) or dtype == object:
        values = series.to_numpy(dtype=object, copy=True)
        if len(values) and pd.isna(values).any():
            values[pd.isna(values)] = None
        return values
    if pd.api.types.is_extension_array_dtype(dtype):
        if series.isna().any():
            return series.to_numpy(dtype=np.float64, na_value=np.nan)
        return series.to_numpy(dtype=dtype.numpy_dtype)
    return series.to_numpy(copy=True)


def check_stream(stream: Any, tag: str, kind: str) -> LoadedStream:
    """Raise StreamContractError unless ``stream`` keeps the contract of its kind."""
    if not isinstance(stream, LoadedStream):
        raise StreamContractError(
            f"source {tag!r} returned {type(stream).__name__}, expected a LoadedStream")
    t = stream.t
    if t.size and not np.all(np.isfinite(t)):
        raise StreamContractError(f"source {tag!r} returned non-finite times in t")
    if kind == TIMESERIES and t.size > 1:
        bad = np.flatnonzero(np.diff(t) <= 0)
        if bad.size:
            i = int(bad[0])
            raise StreamContractError(
                f"source {tag!r} returned t that is not strictly increasing "
                f"(t[{i}]={t[i]!r}, t[{i + 1}]={t[i + 1]!r})")
    if kind == INTERVALS and t.size > 1 and np.any(np.diff(t) < 0):
        raise StreamContractError(f"source {tag!r} returned interval starts out of order")
    value = stream.value
    if kind in (TIMESERIES, INTERVALS) and isinstance(value, pd.DataFrame) and len(value) != t.size:
        raise StreamContractError(
            f"source {tag!r} returned {len(value)} rows but {t.size} times")
    if kind == INTERVALS and isinstance(value, pd.DataFrame):
        missing = {"start_s", "stop_s"} - set(map(str, value.columns))
        if missing:
            raise StreamContractError(
                f"interval source {tag!r} is missing column(s) {sorted(missing)}")
    return stream


def stream_features(stream: LoadedStream, kind: str) -> dict[str, Any]:
    """Feature name -> cell value for one loaded stream."""
    out: dict[str, Any] = {}
    value = stream.value
    if isinstance(value, pd.DataFrame):
        if kind == TABLE:
            if len(value) != 1:
                raise StreamContractError(
                    f"table source {stream.tag!r} must return one record, got {len(value)} rows")
            for name in value.columns:
                out[str(name)] = _scalar(value[name].iloc[0])
        else:
            for name in value.columns:
                if str(name) != TIME_FEATURE:
                    out[str(name)] = column_array(value[name])
    elif isinstance(value, pd.Series):
        out["values"] = column_array(value)
    elif isinstance(value, dict):
        for name, item in value.items():
            if kind == TABLE:
                out[str(name)] = _scalar(item)
            elif isinstance(item, pd.Series):
                out[str(name)] = column_array(item)
            else:
                out[str(name)] = item
    elif isinstance(value, (np.ndarray, list, tuple)):
        out["values"] = np.asarray(value)
    elif value is not None:
        out["value"] = value
    if kind in (TIMESERIES, INTERVALS):
        out[TIME_FEATURE] = stream.t.copy()
    out[META_FEATURE] = dict(stream.meta)
    return out


def _scalar(value):
    if isinstance(value, np.generic):
        return value.item()
    return value
