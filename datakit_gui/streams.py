"""What the stream plot can draw for one cell, taken from a one-row materialized frame.

Pure numpy/pandas, run in a worker thread.  Each source of the cell gives drawables:

* :class:`Curve` a numeric 1-D feature sampled at the source's ``time_elapsed_s``;
* :class:`RoiImage` many ROIs at once (a 2-D ROIs x samples feature, or the columns a
  ``Signal("*")`` stands for) as an ROI x time image on a uniform time grid;
* :class:`FrameHealth` the sampling itself (``Signal("time_elapsed_s")``): the interval
  between frames, and the dropped frames (gaps over 1.5x the median interval);
* :class:`Spans` an interval source's spans, one row per label (device, condition);
* :class:`Markers` the text of a time series (the notes) at its times.

A drawable is a *signal* (drawn by default) when its source declares it in ``signals``
(``datakit.Signal``); a source that declares nothing gets the fallback rule
(``datakit.sources.signals.is_bookkeeping``: every numeric feature except clocks and
counters).  Every other numeric feature is an extra, listed but not drawn.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

import datakit
from datakit.sources.signals import ALL_ROIS, Signal, declared_signals, is_bookkeeping

TIME = "time_elapsed_s"
META = "meta"
SPAN_FEATURE = "start_s"
MAX_TRACKS = 12          # more distinct labels than this: one unlabelled row of spans
MAX_IMAGE_COLUMNS = 20_000
DROP_FACTOR = 1.5        # an interval over 1.5x the median frame interval is a dropped frame
# A curve is broken (not drawn across) where no sample came for longer than all of:
# GAP_FACTOR median intervals, MIN_GAP_S, and GAP_SHARE of the stream's span (an idle
# event-driven encoder pauses for tens of seconds; a 270 s hole is missing data).
GAP_FACTOR, MIN_GAP_S, GAP_SHARE = 50.0, 10.0, 0.05
_TIME_SUFFIXES = (".started", ".stopped", ".t", ".rt", "_s")


@dataclass(kw_only=True)
class Drawable:
    source: str
    feature: str
    label: str = ""
    unit: str = ""
    signal: bool = False             # drawn by default
    basis: str | None = None         # the stream's meta["time_basis"]
    kind: ClassVar[str] = ""

    def __post_init__(self):
        if not self.label:
            self.label = self.feature

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.feature)

    @property
    def name(self) -> str:
        return f"{self.source}.{self.feature}"

    @property
    def axis_label(self) -> str:
        return Signal(self.feature, self.label, self.unit).axis_label


@dataclass(kw_only=True)
class Curve(Drawable):
    t: np.ndarray
    y: np.ndarray
    breaks: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    kind: ClassVar[str] = "curve"

    def drawn(self) -> tuple[np.ndarray, np.ndarray]:
        """``(t, y)`` with a NaN inside every gap, so the line is not drawn across it."""
        if not len(self.breaks):
            return self.t, self.y
        at = self.breaks + 1
        middle = (self.t[self.breaks] + self.t[at]) / 2
        return np.insert(self.t, at, middle), np.insert(self.y, at, np.nan)


@dataclass(kw_only=True)
class RoiImage(Drawable):
    image: np.ndarray                # n_rois x n_columns, float32, NaN where no sample is near
    extent: tuple[float, float]      # time of the left edge of the first and right edge of the last column
    rois: list[str]
    levels: tuple[float, float]
    diverging: bool                  # data around zero: a diverging colour map, symmetric levels
    n_samples: int
    kind: ClassVar[str] = "rois"

    def value_at(self, roi: int, x: float) -> float | None:
        x0, x1 = self.extent
        n = self.image.shape[1]
        if not (0 <= roi < self.image.shape[0]) or not (x0 <= x <= x1) or n == 0:
            return None
        col = min(int((x - x0) / (x1 - x0) * n), n - 1)
        value = float(self.image[roi, col])
        return value if np.isfinite(value) else None


@dataclass(kw_only=True)
class FrameHealth(Drawable):
    t: np.ndarray                    # frame times
    interval_ms: np.ndarray          # t[1:] - t[:-1], in ms (drawn at t[1:])
    median_ms: float
    gap_starts: np.ndarray           # frames before each dropped-frame gap
    gap_stops: np.ndarray
    n_dropped: int                   # frames missing in those gaps
    kind: ClassVar[str] = "frames"

    @property
    def rate_hz(self) -> float:
        return 1000.0 / self.median_ms if self.median_ms > 0 else float("nan")


@dataclass
class Track:
    label: str
    starts: np.ndarray
    stops: np.ndarray


@dataclass(kw_only=True)
class Spans(Drawable):
    tracks: list[Track]
    kind: ClassVar[str] = "spans"


@dataclass(kw_only=True)
class Markers(Drawable):
    t: np.ndarray
    texts: list[str]
    kind: ClassVar[str] = "markers"


@dataclass
class CellStreams:
    key: tuple
    items: list[Drawable] = field(default_factory=list)
    window: tuple[float, float] | None = None
    time_basis: dict[str, str] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)           # source -> message

    @property
    def signals(self) -> list[Drawable]:
        return [item for item in self.items if item.signal]

    @property
    def extras(self) -> list[Drawable]:
        return [item for item in self.items if not item.signal]

    @property
    def curves(self) -> list[Curve]:
        return [item for item in self.items if isinstance(item, Curve)]

    def item(self, key) -> Drawable | None:
        key = tuple(key)
        return next((item for item in self.items if item.key == key), None)


# building blocks --------------------------------------------------------------------

def _is_numeric_1d(value, n: int) -> bool:
    return (isinstance(value, np.ndarray) and value.ndim == 1 and n > 0 and len(value) == n
            and value.dtype.kind in "biuf")


def _is_numeric_2d(value, n: int) -> bool:
    return (isinstance(value, np.ndarray) and value.ndim == 2 and n > 0 and value.shape[1] == n
            and value.shape[0] > 0 and value.dtype.kind in "biuf")


def _is_text_1d(value, n: int) -> bool:
    return (isinstance(value, np.ndarray) and value.ndim == 1 and n > 0 and len(value) == n
            and value.dtype.kind in "OUT")


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


def roi_image(matrix: np.ndarray, t: np.ndarray, max_columns: int = MAX_IMAGE_COLUMNS):
    """ROIs x samples on a uniform time grid: ``(image, extent)``.

    Each column takes the nearest sample; a column with no sample within twice the
    median sampling interval is NaN (a gap shows as a gap)."""
    n = len(t)
    if n == 1:
        return matrix.astype(np.float32).reshape(-1, 1), (float(t[0]) - 0.5, float(t[0]) + 0.5)
    step = float(np.median(np.diff(t)))
    columns = int(min(max_columns, max(1, round((t[-1] - t[0]) / step) + 1 if step > 0 else n)))
    width = (t[-1] - t[0]) / max(columns - 1, 1)
    centres = t[0] + width * np.arange(columns)
    right = np.clip(np.searchsorted(t, centres), 1, n - 1)
    nearest = np.where(np.abs(t[right] - centres) < np.abs(centres - t[right - 1]), right, right - 1)
    image = matrix[:, nearest].astype(np.float32, copy=False)
    far = np.abs(t[nearest] - centres) > 2 * max(step, width)
    if far.any():
        image = image.copy()
        image[:, far] = np.nan
    return image, (float(t[0] - width / 2), float(t[-1] + width / 2))


def _levels(image: np.ndarray) -> tuple[tuple[float, float], bool]:
    finite = image[np.isfinite(image)]
    if finite.size > 200_000:
        finite = finite[:: finite.size // 200_000 + 1]
    if not finite.size:
        return (0.0, 1.0), False
    lo, hi = (float(v) for v in np.percentile(finite, [1, 99]))
    if lo < 0 < hi and min(-lo, hi) >= 0.2 * max(-lo, hi):
        bound = max(-lo, hi)
        return (-bound, bound), True
    if hi <= lo:
        hi = lo + 1.0
    return (lo, hi), False


def frame_health(t: np.ndarray) -> dict:
    """Frame intervals and dropped frames of the frame times ``t``."""
    dt = np.diff(t) * 1000.0
    median = float(np.median(dt)) if dt.size else 0.0
    gaps = dt > DROP_FACTOR * median if median > 0 else np.zeros(dt.size, dtype=bool)
    missing = np.maximum(np.rint(dt[gaps] / median) - 1, 1) if gaps.any() else np.zeros(0)
    return {"interval_ms": dt, "median_ms": median, "gap_starts": t[:-1][gaps],
            "gap_stops": t[1:][gaps], "n_dropped": int(missing.sum())}


def gaps(t: np.ndarray) -> np.ndarray:
    """Indices ``i`` where no sample came between ``t[i]`` and ``t[i + 1]`` for longer than
    ``GAP_FACTOR`` median intervals, ``MIN_GAP_S`` and ``GAP_SHARE`` of the span."""
    if len(t) < 3:
        return np.zeros(0, dtype=np.int64)
    dt = np.diff(t)
    limit = max(GAP_FACTOR * float(np.median(dt)), MIN_GAP_S, GAP_SHARE * float(t[-1] - t[0]))
    return np.flatnonzero(dt > limit)


def _is_time_like(name: str) -> bool:
    return name.endswith(_TIME_SUFFIXES)


def _span_tracks(source: str, features: dict, label: str) -> list[Track]:
    starts = np.asarray(features.get("start_s", []), dtype=float).reshape(-1)
    stops = np.asarray(features.get("stop_s", []), dtype=float).reshape(-1)
    n = min(len(starts), len(stops))
    starts, stops = starts[:n], stops[:n]
    ok = np.isfinite(starts) & np.isfinite(stops)
    best, best_count = None, 1
    for name, value in features.items():       # the condition with most (<= MAX_TRACKS) values
        if name in (META, TIME) or _is_time_like(name) or name.endswith("_source"):
            continue
        if not isinstance(value, np.ndarray) or value.ndim != 1 or len(value) != n:
            continue
        text = value.dtype.kind in "OUT"
        if not text and (value.dtype.kind not in "biuf" or is_bookkeeping(name)):
            continue
        if value.dtype.kind == "O" and not all(v is None or isinstance(v, (str, int, float))
                                               for v in value[ok]):
            continue            # lists per trial (psychopy's window lists) are no condition
        count = len(pd.unique(value[ok]))
        if best_count < count <= MAX_TRACKS:
            best, best_count = (name, value, text), count
    if best is None:
        return [Track(label, starts[ok], stops[ok])] if ok.any() else []
    name, value, text = best
    labels = np.asarray([_span_label(v) if text else f"{name} {v:g}" for v in value], dtype=object)
    return [Track(str(lab), starts[ok & (labels == lab)], stops[ok & (labels == lab)])
            for lab in dict.fromkeys(labels[ok])]


def _span_label(value) -> str:
    """A text label; a file path shows as its name without the extension."""
    text = str(value)
    if "/" in text or "\\" in text:
        text = text.replace("\\", "/").rsplit("/", 1)[-1]
        stem = text.rsplit(".", 1)[0]
        text = stem or text
    return text


def _signals_of(source: str) -> tuple[Signal, ...] | None:
    try:
        return declared_signals(datakit.get_source_class(source))
    except (KeyError, TypeError):       # not registered here (a frame saved elsewhere)
        return None


def _timeseries(source: str, features: dict, t: np.ndarray, signals, base: dict) -> list[Drawable]:
    n = len(t)
    declared = {s.feature: s for s in signals} if signals is not None else {}
    curves, images, text = [], [], []
    for name, value in features.items():
        if name in (TIME, META):
            continue
        if _is_numeric_1d(value, n):
            curves.append((name, value))
        elif _is_numeric_2d(value, n):
            images.append((name, value))
        elif _is_text_1d(value, n):
            text.append((name, value))

    def is_signal(name, value) -> bool:
        if signals is None:
            return not is_bookkeeping(name, value)
        return name in declared

    def described(name) -> dict:
        s = declared.get(name)
        return {"label": s.label, "unit": s.unit} if s is not None else {"label": name}

    items: list[Drawable] = []
    if ALL_ROIS in declared:                       # ROI columns taken together
        rois = [(name, v) for name, v in curves if name not in declared and not is_bookkeeping(name, v)]
        if rois:
            matrix = np.vstack([v.astype(np.float32, copy=False) for _, v in rois])
            items.append(_roi_item(source, ALL_ROIS, matrix, t, [name for name, _ in rois],
                                   signal=True, base=base, **described(ALL_ROIS)))
    for name, value in images:
        index = features.get("cell_index")
        names = ([f"cell {int(i)}" for i in index] if _is_numeric_1d(index, value.shape[0])
                 else [f"ROI {i}" for i in range(value.shape[0])])
        items.append(_roi_item(source, name, value, t, names, signal=is_signal(name, value),
                               base=base, **described(name)))
    breaks = gaps(t) if curves else None
    for name, value in curves:
        items.append(Curve(source=source, feature=name, t=t, y=value.astype(np.float64, copy=False),
                           breaks=breaks, signal=is_signal(name, value), **described(name), **base))
    if TIME in declared:
        items.append(FrameHealth(source=source, feature=TIME, t=t, signal=True, **frame_health(t),
                                 **described(TIME), **base))
    for name, value in text:
        wanted = name in declared if signals is not None else not any(i.signal for i in items)
        if wanted:
            items.append(Markers(source=source, feature=name, t=t, texts=[str(v) for v in value],
                                 signal=True, **described(name), **base))
            if signals is None:
                break
    order = [s.feature for s in signals or ()]       # signals in declaration order, then the rest
    rank = {feature: i for i, feature in enumerate(order)}
    return sorted(items, key=lambda i: (not i.signal, rank.get(i.feature, len(rank))))


def _roi_item(source, feature, matrix, t, names, *, signal, base, label, unit="") -> RoiImage:
    image, extent = roi_image(matrix, t)
    levels, diverging = _levels(image)
    return RoiImage(source=source, feature=feature, label=label, unit=unit, signal=signal,
                    image=image, extent=extent, rois=list(names), levels=levels,
                    diverging=diverging, n_samples=len(t), **base)


def extract(row: pd.Series, key=(), errors: pd.DataFrame | None = None) -> CellStreams:
    """The drawables of one materialized row (columns: (Source, Feature))."""
    out = CellStreams(tuple(map(str, key)))
    by_source: dict[str, dict] = {}
    for (source, feature), value in row.items():
        by_source.setdefault(str(source), {})[str(feature)] = value
    for source, features in by_source.items():
        meta = features.get(META) if isinstance(features.get(META), dict) else {}
        if out.window is None:
            out.window = _window(meta)
        basis = str(meta["time_basis"]) if meta.get("time_basis") else None
        if basis:
            out.time_basis[source] = basis
        base = {"basis": basis}
        signals = _signals_of(source)
        kind = meta.get("kind")
        if kind == "intervals" or (kind is None and "start_s" in features and "stop_s" in features):
            declared = {s.feature: s for s in signals or ()}
            s = declared.get(SPAN_FEATURE)
            label = s.label if s is not None else "intervals"
            tracks = _span_tracks(source, features, label)
            if tracks:
                out.items.append(Spans(source=source, feature=SPAN_FEATURE, label=label,
                                       signal=signals is None or s is not None, tracks=tracks, **base))
            continue
        t = features.get(TIME)
        if not isinstance(t, np.ndarray) or t.ndim != 1 or not len(t):
            if any(not (isinstance(v, float) and np.isnan(v)) for k, v in features.items() if k != META):
                out.tables.append(source)
            continue
        out.items.extend(_timeseries(source, features, t.astype(np.float64, copy=False), signals, base))
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
    value = float(curve.y[i])
    return value if np.isfinite(value) else None
