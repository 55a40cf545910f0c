"""The master clock of a cell and the helpers that put streams on it.

The dataqueue's ``queue_elapsed`` column is the master clock.  Its zero is the start of
the experiment window: the first master-camera frame (``Settings.devices.master_camera``).
Every time-series stream of a cell is expressed in seconds on that clock, and its meta
says which ``time_basis`` it used:

==========================  ===========================================================
``master``                  dataqueue clock, zero at the first master-camera frame
``dataqueue_first_row``     dataqueue clock, but the queue has no master-camera rows:
                            zero at its first row (experiment window unknown)
``session_timestamps``      no dataqueue: wall clock of ``timestamps.csv``, zero at the
                            master camera's ``started`` time
``camera_sidecar``          no dataqueue: the camera's own frame times (frame metadata)
``assumed_rate``            no timing at all: frame index / a configured rate
``encoder_clock``           no dataqueue encoder rows: the treadmill's own µs clock,
                            zero at its first sample
``*_relative``              a source-specific clock described in its meta
==========================  ===========================================================
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MASTER = "master"
DATAQUEUE_FIRST_ROW = "dataqueue_first_row"
SESSION_TIMESTAMPS = "session_timestamps"
CAMERA_SIDECAR = "camera_sidecar"
ASSUMED_RATE = "assumed_rate"
ENCODER_CLOCK = "encoder_clock"
ON_DATAQUEUE = (MASTER, DATAQUEUE_FIRST_ROW)

WALL_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


# ---------------------------------------------------------------------------------
# ordering


def monotonic_index(t) -> tuple[np.ndarray, dict]:
    """Indices that make ``t`` strictly increasing: NaNs dropped, sorted, ties dropped.

    Returns ``(index, info)``; ``info`` has the counts worth putting in a stream's meta
    (only non-zero entries): ``n_dropped_nan_time``, ``n_dropped_duplicate_time`` and
    ``resorted`` when the input was out of order.
    """
    t = np.asarray(t, dtype=np.float64)
    info: dict = {}
    finite = np.isfinite(t)
    idx = np.flatnonzero(finite)
    if idx.size != t.size:
        info["n_dropped_nan_time"] = int(t.size - idx.size)
    tv = t[idx]
    if tv.size > 1 and np.any(np.diff(tv) < 0):
        order = np.argsort(tv, kind="stable")
        idx, tv = idx[order], tv[order]
        info["resorted"] = True
    if tv.size > 1:
        keep = np.empty(tv.size, dtype=bool)
        keep[0] = True
        np.greater(tv[1:], tv[:-1], out=keep[1:])
        if not keep.all():
            info["n_dropped_duplicate_time"] = int((~keep).sum())
            idx = idx[keep]
    return idx, info


def take_monotonic(t, frame: pd.DataFrame | None = None):
    """Apply :func:`monotonic_index` to ``t`` and (optionally) the rows of ``frame``."""
    idx, info = monotonic_index(t)
    t = np.asarray(t, dtype=np.float64)[idx]
    if frame is not None:
        if len(idx) != len(frame) or info:
            frame = frame.iloc[idx].reset_index(drop=True)
    return t, frame, info


def merge_order_info(*infos: dict) -> dict:
    """Several :func:`monotonic_index` infos of one stream (e.g. frame numbers, then
    times) as one: counts added, ``resorted`` if any step resorted."""
    out: dict = {}
    for info in infos:
        for key, value in info.items():
            if key == "resorted":
                out[key] = bool(out.get(key) or value)
            else:
                out[key] = out.get(key, 0) + value
    return out


def break_ties(t_sorted: np.ndarray) -> tuple[np.ndarray, int]:
    """Make a sorted array strictly increasing by nudging equal values up by a few ulps.

    Used where every row must be kept (the dataqueue holds several devices whose
    packets can share a timestamp).  Returns ``(t, n_ties)``.
    """
    t = np.asarray(t_sorted, dtype=np.float64)
    if t.size < 2:
        return t, 0
    same = t[1:] == t[:-1]
    n = int(same.sum())
    if not n:
        return t, 0
    # rank of each element inside its run of equal values
    new_run = np.concatenate(([True], ~same))
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(t.size), 0))
    rank = np.arange(t.size) - run_start
    spacing = np.spacing(np.maximum(np.abs(t), 1.0))
    return t + rank * spacing * 4, n


# ---------------------------------------------------------------------------------
# device roles in a dataqueue frame


def role_mask(frame: pd.DataFrame, role: str, settings) -> np.ndarray:
    """Rows of a dataqueue frame whose ``device_id`` plays ``role`` (settings.devices)."""
    ids = frame["device_id"]
    if isinstance(ids.dtype, pd.CategoricalDtype):
        cats = np.asarray(ids.cat.categories, dtype=object)
        cat_mask = settings.devices.mask(role, cats)
        codes = ids.cat.codes.to_numpy()
        out = np.zeros(len(codes), dtype=bool)
        valid = codes >= 0
        out[valid] = cat_mask[codes[valid]]
        return out
    return settings.devices.mask(role, ids.fillna("").to_numpy(dtype=object))


def payload_numbers(frame: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Numeric payloads (ImageNumber, nidaq counter) of the chosen dataqueue rows (NaN if not a number)."""
    if "payload" not in frame.columns:
        return np.full(int(np.count_nonzero(rows)), np.nan)
    payload = frame["payload"]
    if pd.api.types.is_numeric_dtype(payload.dtype):  # a loaded dataqueue: float32 numbers
        return payload.to_numpy(dtype=np.float64)[rows]
    return pd.to_numeric(payload[rows], errors="coerce").to_numpy(dtype=np.float64)


def dataqueue_basis(context) -> str | None:
    meta = getattr(context, "dataqueue_meta", None)
    return meta.get("time_basis") if meta else None


def context_fields(stream, settings) -> dict:
    """LoadContext fields derived from a loaded dataqueue stream."""
    frame = stream.value
    meta = stream.meta
    mask = role_mask(frame, "master_camera", settings)
    window = meta.get("experiment_window")
    return {
        "dataqueue_frame": frame,
        "dataqueue_meta": meta,
        "master_timeline": stream.t[mask],
        "experiment_window": tuple(window) if window is not None else None,
    }


# ---------------------------------------------------------------------------------
# alignment by counting


def align_by_count(anchor_times: np.ndarray, n: int) -> tuple[np.ndarray, str]:
    """Times for ``n`` samples given the times of ``m`` anchor events (same events).

    Equal counts: the anchors are the times (``direct``).  Otherwise sample *i* is mapped
    linearly onto the anchor index range and the anchor times interpolated
    (``resampled``); the caller records the method and both counts in meta.
    """
    anchors = np.asarray(anchor_times, dtype=np.float64)
    m = anchors.size
    if m < 2:
        raise ValueError(f"need at least 2 anchor rows to align {n} samples, found {m}")
    if m == n:
        return anchors.copy(), "direct"
    pos = np.linspace(0.0, m - 1, n) if n > 1 else np.zeros(n)
    return np.interp(pos, np.arange(m, dtype=np.float64), anchors), "resampled"


def align_by_clock(anchor_times, own_times) -> tuple[np.ndarray, dict]:
    """Times for samples that carry their own clock, given the anchor times of (most of)
    the same events when some are missing on either side.

    The first sample is paired with the first anchor; every sample then pairs with the
    anchor nearest to its own-clock time (within half a sample period), and a line
    ``t = a * own + b`` is fitted to the pairs.  Unlike :func:`align_by_count`, a
    stretch missing from one side (a file cut short, packets the queue lost) does not
    stretch the rest.  Returns ``(times, info)``; ``info`` has ``n_paired_samples``.
    """
    anchors = np.asarray(anchor_times, dtype=np.float64)
    own = np.asarray(own_times, dtype=np.float64)
    if anchors.size < 2:
        raise ValueError(f"need at least 2 anchor rows to align {own.size} samples, found {anchors.size}")
    rel = own - own[0]
    guess = rel + anchors[0]
    hi = np.clip(np.searchsorted(anchors, guess), 1, anchors.size - 1)
    nearest = np.where(np.abs(anchors[hi] - guess) < np.abs(anchors[hi - 1] - guess), hi, hi - 1)
    steps = np.diff(rel)
    period = float(np.median(steps)) if steps.size else 0.0
    paired = np.abs(anchors[nearest] - guess) <= period / 2
    info = {"resample_method": "own_clock_fit", "n_paired_samples": int(paired.sum())}
    if paired.sum() >= 2 and np.ptp(rel[paired]) > 0:
        a, b = np.polyfit(rel[paired], anchors[nearest[paired]], 1)
        return a * rel + b, info
    return guess, info


def interp_counter(counter, times, targets) -> np.ndarray:
    """Times of counter values ``targets`` from (counter, time) samples, extrapolated."""
    counter = np.asarray(counter, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if counter.size < 2:
        raise ValueError("need at least 2 counter samples to interpolate pulse times")
    out = np.interp(targets, counter, times)
    slope_lo = (times[1] - times[0]) / (counter[1] - counter[0])
    slope_hi = (times[-1] - times[-2]) / (counter[-1] - counter[-2])
    lo = targets < counter[0]
    hi = targets > counter[-1]
    out[lo] = times[0] + (targets[lo] - counter[0]) * slope_lo
    out[hi] = times[-1] + (targets[hi] - counter[-1]) * slope_hi
    return out


# ---------------------------------------------------------------------------------
# wall clock


def wall_seconds(values) -> np.ndarray:
    """Wall-clock datetimes (array-like) -> float seconds since the epoch (NaN for NaT).

    Naive values count as UTC; timezone-aware ones are converted to UTC first.
    """
    ts = pd.DatetimeIndex(pd.to_datetime(values))
    if ts.tz is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    out = ts.asi8.astype(np.float64)
    unit = np.datetime_data(ts.dtype)[0] if ts.dtype.kind == "M" else "ns"
    scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}[unit]
    out = out * scale
    out[ts.isna()] = np.nan
    return out


def parse_wall(values) -> pd.Series:
    """Parse ``YYYY-MM-DD HH:MM:SS[.ffffff]`` strings (fast path) into naive datetimes."""
    series = pd.Series(values, copy=False)
    parsed = pd.to_datetime(series, format=WALL_FORMAT, errors="coerce")
    if parsed.isna().all() and series.notna().any():
        parsed = pd.to_datetime(series, format="ISO8601", errors="coerce")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert(None)
    return parsed


@dataclass(frozen=True)
class WallMap:
    """Affine map from wall-clock epoch seconds to a stream clock: ``t = a*(w - w0) + b``."""

    a: float
    b: float
    w0: float
    basis: str

    def __call__(self, wall_epoch_s) -> np.ndarray:
        return self.a * (np.asarray(wall_epoch_s, dtype=np.float64) - self.w0) + self.b

    def to_meta(self) -> dict:
        return {"a": self.a, "b": self.b, "w0": self.w0, "basis": self.basis}

    @classmethod
    def from_meta(cls, meta: dict | None) -> "WallMap | None":
        if not meta:
            return None
        return cls(float(meta["a"]), float(meta["b"]), float(meta["w0"]), str(meta["basis"]))


def fit_wall_map(wall_epoch_s, t, basis: str) -> WallMap | None:
    """Least-squares ``t ~ wall`` over finite pairs; None with fewer than 2 distinct points."""
    w = np.asarray(wall_epoch_s, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    ok = np.isfinite(w) & np.isfinite(t)
    w, t = w[ok], t[ok]
    if w.size < 2 or np.ptp(w) <= 0:
        return None
    w0 = float(w[0])
    a, b = np.polyfit(w - w0, t, 1)
    return WallMap(float(a), float(b), w0, basis)


def wall_map(context) -> WallMap | None:
    """Wall clock -> this cell's master clock, from the cell's dataqueue (or None)."""
    meta = getattr(context, "dataqueue_meta", None)
    if not meta:
        return None
    return WallMap.from_meta(meta.get("wallclock_to_master"))


def session_wall_map(context) -> WallMap | None:
    """Wall clock -> master clock, else -> the ``session_timestamps`` fallback clock.

    The fallback zero is the master camera's ``started`` time in ``timestamps.csv``
    (the same instant the dataqueue clock would call zero; the earliest ``started``
    when the file has no master-camera row).
    """
    mapping = wall_map(context)
    if mapping is not None:
        return mapping
    stream = context.get_dependency("timestamps") if context is not None else None
    if stream is None:
        return None
    zero = stream.meta.get("session_zero_epoch_s")
    if zero is None:
        return None
    return WallMap(1.0, 0.0, float(zero), SESSION_TIMESTAMPS)


# ---------------------------------------------------------------------------------
# integer clocks


def unwrap_uint32(values) -> np.ndarray:
    """Undo unsigned 32-bit wraparound (a drop of more than 2**31 adds 2**32)."""
    v = np.asarray(values, dtype=np.int64)
    if v.size < 2:
        return v.copy()
    wraps = np.concatenate(([0], np.cumsum(np.diff(v) < -(2**31))))
    return v + wraps.astype(np.int64) * (2**32)
