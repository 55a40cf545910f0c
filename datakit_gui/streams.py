"""What the stream plot draws for one cell, taken from a one-row materialized frame.

Pure numpy/pandas.  Every source of the cell gives, depending on its kind:

* time series: one :class:`Curve` per numeric feature sampled at ``time_elapsed_s``
  (1-D, or 2-D with one row per ROI, drawn as the mean over ROIs)
  (a text-only time series, like the notes, gives :class:`Marker`s instead);
* intervals (psychopy trials, timestamps): :class:`Track`s of (start, stop) spans, one
  track per label (device, condition) when there are a few labels, else one track;
* tables: nothing to draw (their scalars are in the frame and the console).

The experiment window comes from the meta of the dataqueue (or any stream that carries it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

TIME = "time_elapsed_s"
META = "meta"
LABEL_FEATURES = ("device_id", "condition", "trial_type", "stimulus", "stim", "block", "label", "name")
MAX_TRACKS = 12


@dataclass
class Curve:
    source: str
    feature: str
    t: np.ndarray
    y: np.ndarray
    note: str = ""      # e.g. "mean of 22 ROIs" for a 2-D feature

    @property
    def name(self) -> str:
        return f"{self.source}.{self.feature}"

    @property
    def label(self) -> str:
        return f"{self.feature} ({self.note})" if self.note else self.feature


@dataclass
class Track:
    label: str
    starts: np.ndarray
    stops: np.ndarray


@dataclass
class Marker:
    t: float
    text: str
    source: str


@dataclass
class CellStreams:
    key: tuple
    curves: list[Curve] = field(default_factory=list)
    tracks: dict[str, list[Track]] = field(default_factory=dict)   # source -> tracks
    markers: list[Marker] = field(default_factory=list)
    window: tuple[float, float] | None = None
    time_basis: dict[str, str] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)           # source -> message

    @property
    def curve_sources(self) -> list[str]:
        return list(dict.fromkeys(c.source for c in self.curves))


def is_numeric_series(value, n: int) -> bool:
    """A feature the plot draws as a curve: a numeric/bool array whose last axis has ``n``
    samples, 1-D (drawn as is) or 2-D (one row per ROI; drawn as the mean over ROIs)."""
    if not isinstance(value, np.ndarray) or value.ndim not in (1, 2) or n == 0:
        return False
    return value.shape[-1] == n and value.dtype.kind in "biuf" and value.size > 0


def _curve(source: str, name: str, t: np.ndarray, value: np.ndarray) -> Curve:
    if value.ndim == 2:
        v = value.astype(np.float64, copy=False)
        finite = np.isfinite(v)
        count = finite.sum(axis=0)
        total = np.where(finite, v, 0.0).sum(axis=0)
        y = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        return Curve(source, name, t, y, f"mean of {value.shape[0]} ROIs")
    return Curve(source, name, t, value.astype(np.float64, copy=False))


def _window(meta: dict) -> tuple[float, float] | None:
    window = meta.get("experiment_window") if isinstance(meta, dict) else None
    if window is None:
        return None
    if isinstance(window, dict):
        start, stop = window.get("start"), window.get("end", window.get("stop"))
    else:
        try:
            start, stop = window
        except (TypeError, ValueError):
            return None
    try:
        start, stop = float(start), float(stop)
    except (TypeError, ValueError):
        return None
    return (start, stop) if np.isfinite(start) and np.isfinite(stop) and stop > start else None


def _labels(features: dict, n: int) -> np.ndarray | None:
    for name in LABEL_FEATURES:
        value = features.get(name)
        if isinstance(value, np.ndarray) and value.ndim == 1 and len(value) == n:
            return np.asarray([str(v) for v in value], dtype=object)
    return None


def _tracks(source: str, features: dict) -> list[Track]:
    starts = np.asarray(features.get("start_s", []), dtype=float).reshape(-1)
    stops = np.asarray(features.get("stop_s", []), dtype=float).reshape(-1)
    n = min(len(starts), len(stops))
    starts, stops = starts[:n], stops[:n]
    ok = np.isfinite(starts) & np.isfinite(stops)
    labels = _labels(features, n)
    if labels is not None and len(set(labels[ok])) <= MAX_TRACKS:
        out = []
        for label in dict.fromkeys(labels[ok]):
            hit = ok & (labels == label)
            out.append(Track(str(label), starts[hit], stops[hit]))
        return out
    return [Track(source, starts[ok], stops[ok])] if ok.any() else []


def extract(row: pd.Series, key=(), errors: pd.DataFrame | None = None) -> CellStreams:
    """The drawable content of one materialized row (columns: (Source, Feature))."""
    out = CellStreams(tuple(map(str, key)))
    by_source: dict[str, dict] = {}
    for (source, feature), value in row.items():
        by_source.setdefault(str(source), {})[str(feature)] = value
    for source, features in by_source.items():
        meta = features.get(META) if isinstance(features.get(META), dict) else {}
        if out.window is None:
            out.window = _window(meta)
        if meta.get("time_basis"):
            out.time_basis[source] = str(meta["time_basis"])
        t = features.get(TIME)
        kind = meta.get("kind")
        if kind == "intervals" or ("start_s" in features and "stop_s" in features):
            tracks = _tracks(source, features)
            if tracks:
                out.tracks[source] = tracks
            continue
        if not isinstance(t, np.ndarray) or t.ndim != 1 or not len(t):
            if any(not (isinstance(v, float) and np.isnan(v)) for k, v in features.items() if k != META):
                out.tables.append(source)
            continue
        t = t.astype(np.float64, copy=False)
        curves = [_curve(source, name, t, value) for name, value in features.items()
                  if name not in (TIME, META) and is_numeric_series(value, len(t))]
        if curves:
            out.curves.extend(curves)
            continue
        for value in features.values():
            if isinstance(value, np.ndarray) and value.dtype == object and value.ndim == 1 \
                    and len(value) == len(t):
                out.markers.extend(Marker(float(tt), str(text), source) for tt, text in zip(t, value))
                break
    if errors is not None and len(errors):
        failed = errors[errors["status"] == "error"]
        for source, etype, message in zip(failed["Source"], failed["error_type"], failed["message"]):
            out.failed[str(source)] = f"{etype or 'Error'}: {message}"
    return out


def visible_frame(curves: list[Curve], x0: float, x1: float) -> pd.DataFrame:
    """Long-format samples of ``curves`` with ``x0 <= t <= x1`` (for the CSV export)."""
    parts = []
    for curve in curves:
        lo = int(np.searchsorted(curve.t, x0, side="left"))
        hi = int(np.searchsorted(curve.t, x1, side="right"))
        n = hi - lo
        if n <= 0:
            continue
        parts.append(pd.DataFrame({
            "time_s": curve.t[lo:hi],
            "source": np.full(n, curve.source, dtype=object),
            "feature": np.full(n, curve.feature, dtype=object),
            "value": curve.y[lo:hi],
        }))
    if not parts:
        return pd.DataFrame({"time_s": pd.Series(dtype=float), "source": pd.Series(dtype=object),
                             "feature": pd.Series(dtype=object), "value": pd.Series(dtype=float)})
    return pd.concat(parts, ignore_index=True)


def value_at(curve: Curve, x: float) -> float | None:
    """The curve's last sample at or before ``x`` (None before its first sample)."""
    i = int(np.searchsorted(curve.t, x, side="right")) - 1
    if i < 0 or i >= len(curve.y):
        return None
    return float(curve.y[i])
