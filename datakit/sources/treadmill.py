"""``treadmill``: running from the dataqueue's encoder packets, else the treadmill CSV.

* Dataqueue route (on the master clock): rows whose payload is
  ``EncoderData(timestamp=<µs>, distance=<mm> mm, speed=<mm/s> mm/s)`` (or, since 2026,
  the same fields fanned out into columns).  Discovery gives the treadmill the
  dataqueue only when it really holds such packets (``claims``), so a session without
  an encoder never shows a treadmill that cannot load.
* CSV route: ``timestamp,distance_mm,speed_mm`` or the legacy ``timestamp,distance,speed``;
  time is the encoder's own µs clock (32-bit wraparound undone), zero at the first
  sample, ``time_basis="encoder_clock"``.  Rows without a numeric timestamp are dropped
  (``n_dropped_nan_time``), rows out of order sorted (``resorted``), repeated
  timestamps dropped (``n_dropped_duplicate_time``); a missing distance or speed stays
  NaN (``n_missing_distance_mm``/``n_missing_speed_mm``).  When the session's dataqueue
  fails to load, the treadmill CSV of the same recording beside it is used (``note``).

Features: ``timestamp`` (raw encoder µs: float64 from the dataqueue, int64 from the
CSV, as before), ``distance_mm`` (cumulative), ``speed_mm`` (mm/s), ``time_elapsed_s``;
other columns of a treadmill CSV pass through.  From the dataqueue, samples outside the
experiment window (the master camera's first to last frame) are dropped as before
(``n_outside_window``); a dataqueue without master-camera rows keeps them all.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np
import pandas as pd

from .. import timeline
from .base import TIMESERIES, DataSource
from .readers import read_csv
from .registry import register_builtin
from .signals import Signal

_PACKET = re.compile(
    r"EncoderData\(\s*timestamp\s*=\s*(?P<timestamp>[-+]?\d+)\s*,"
    r"\s*distance\s*=\s*(?P<distance>[-+0-9.eE]+|nan)\s*(?:mm)?\s*,"
    r"\s*speed\s*=\s*(?P<speed>[-+0-9.eE]+|nan)\s*(?:mm/s)?\s*\)"
)
_DISTANCE = ("distance_mm", "distance")
_SPEED = ("speed_mm", "speed_mm_s", "speed")
_CLAIM_LIMIT = 16 * 2**20
_CLAIM_CHUNK = 2**20
_CLAIM_FIRST = 2**16
_OPEN_FLAGS = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def dataqueue_has_encoder_packets(path, limit: int = _CLAIM_LIMIT) -> bool:
    """Cheap look: does this dataqueue hold treadmill encoder packets?

    Reads until the first ``EncoderData(`` (a few KB in a normal session); gives up
    after ``limit`` bytes.  A fanned-out header with distance and speed columns counts.
    Plain ``os`` calls, opened non-blocking: discovery asks this of every session's
    dataqueue, and a FIFO must not block (it is not read at all).
    """
    try:
        if os.stat(path).st_size == 0:    # empty (or a FIFO): nothing to read, not opened
            return False
        fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
    except (OSError, ValueError):
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        chunk = os.read(fd, _CLAIM_FIRST)
        columns = [c.strip() for c in chunk.split(b"\n", 1)[0][:65536].lower().split(b",")]
        if any(c.decode(errors="ignore") in _DISTANCE for c in columns[5:]) and any(
                c.decode(errors="ignore") in _SPEED for c in columns[5:]):
            return True
        carry, read = b"", 0
        while chunk and read < limit:
            if b"EncoderData(" in carry + chunk:
                return True
            carry = chunk[-16:]
            read += len(chunk)
            chunk = os.read(fd, _CLAIM_CHUNK)
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def _csv_beside(dataqueue_path) -> Path | None:
    """The treadmill CSV of the same recording (same name stem) beside a dataqueue."""
    stem = dataqueue_path.name[: -len("_dataqueue.csv")]
    for suffix in ("_treadmill.csv", "_treadmill_data.csv"):
        candidate = dataqueue_path.with_name(stem + suffix)
        if candidate.is_file():
            return candidate
    return None


@register_builtin
class TreadmillSource(DataSource):
    tag = "treadmill"
    meta_keys = (
        "alignment", "dataqueue_file", "experiment_window", "header",
        "n_dropped_duplicate_time", "n_dropped_nan_time", "n_dropped_truncated_rows",
        "n_encoder_payloads", "n_kept", "n_missing_speed_mm", "n_outside_window", "n_samples",
        "n_unparsed_packets", "resorted", "source_file", "source_method", "time_basis",
        "truncation_note",
    )
    patterns = ("*_dataqueue.csv", "*_treadmill.csv", "*_treadmill_data.csv")
    requires = ("dataqueue",)
    kind = TIMESERIES
    description = "Treadmill running (encoder packets on the master clock, else treadmill CSV)"
    signals = (Signal("speed_mm", "speed", "mm/s"), Signal("distance_mm", "distance", "mm"))

    @classmethod
    def claims(cls, path) -> bool:
        if str(path).endswith("_dataqueue.csv"):
            return dataqueue_has_encoder_packets(path)
        return True

    def load(self, path, *, context=None):
        context = self.context_or_default(path, context)
        if str(path).endswith("_dataqueue.csv"):
            return self._from_dataqueue(path, context)
        return self._from_csv(path)

    # dataqueue route --------------------------------------------------------------

    def _from_dataqueue(self, path, context):
        dq = context.get_dependency("dataqueue")
        if dq is None:
            if context.path_for("dataqueue") is not None:
                beside = _csv_beside(path)
                if beside is not None:
                    stream = self._from_csv(beside)
                    stream.meta["note"] = (f"the session's dataqueue {path.name} failed to load; "
                                           "the treadmill CSV beside it was used")
                    return stream
                raise ValueError(
                    f"{path}: the session's dataqueue failed to load, so its encoder "
                    "packets are unavailable (see the dataqueue row for why)")
            from .dataqueue import DataqueueSource  # dataqueue not selected: read it here
            dq = DataqueueSource().load(path, context=context)
        frame = dq.value
        packets = self._packets(frame, path)
        keep = packets.notna().all(axis=1).to_numpy()
        n_bad = int((~keep).sum())
        if not keep.any():
            raise ValueError(f"{path}: {len(packets)} encoder packets found but none parse "
                             "(expected EncoderData(timestamp=..., distance=... mm, speed=... mm/s))")
        t = dq.t[packets.index.to_numpy()[keep]]
        value = pd.DataFrame({
            # encoder µs as float64, like the earlier implementation's dataqueue route
            "timestamp": packets["timestamp"].to_numpy()[keep].astype(np.float64),
            "distance_mm": packets["distance_mm"].to_numpy()[keep].astype(np.float64),
            "speed_mm": packets["speed_mm"].to_numpy()[keep].astype(np.float64),
        })
        window = dq.meta.get("experiment_window")
        n_parsed = len(value)
        if window is not None:
            # samples outside the master camera's span are dropped, as before
            inside = (t >= window[0]) & (t <= window[1])
            t, value = t[inside], value[inside].reset_index(drop=True)
        meta = {
            "source_file": str(path),
            "dataqueue_file": dq.meta.get("source_file", str(path)),
            "source_method": "dataqueue_encoder_payload",
            "time_basis": dq.meta.get("time_basis"),
            "experiment_window": ({"start": float(window[0]), "end": float(window[1])}
                                  if window is not None else None),
            "n_samples": int(len(value)),
            "n_encoder_payloads": int(len(packets)),
            "n_kept": int(len(value)),
        }
        if n_parsed != len(value):
            meta["n_outside_window"] = int(n_parsed - len(value))
        if n_bad:
            meta["n_unparsed_packets"] = n_bad
        value["time_elapsed_s"] = t  # in the value too, as before
        return self.stream(t, value, meta)

    @staticmethod
    def _packets(frame: pd.DataFrame, path) -> pd.DataFrame:
        """timestamp/distance_mm/speed_mm of every encoder packet row (index = dataqueue row)."""
        text_column = "payload_text" if "payload_text" in frame.columns else "payload"
        column = frame[text_column] if text_column in frame.columns else None
        if column is not None and not pd.api.types.is_numeric_dtype(column.dtype):
            payload = column[column.notna().to_numpy()].astype(str)
            is_packet = payload.str.contains("EncoderData(", regex=False).to_numpy()
            if is_packet.any():
                parts = payload[is_packet].str.extract(_PACKET)
                return pd.DataFrame({
                    "timestamp": pd.to_numeric(parts["timestamp"], errors="coerce"),
                    "distance_mm": pd.to_numeric(parts["distance"], errors="coerce"),
                    "speed_mm": pd.to_numeric(parts["speed"], errors="coerce"),
                })
        # fanned-out dict payloads: columns after payload
        names = {str(c).lower(): c for c in frame.columns}
        dist = next((names[c] for c in _DISTANCE if c in names), None)
        speed = next((names[c] for c in _SPEED if c in names), None)
        stamp = names.get("timestamp")
        if dist is not None and speed is not None:
            rows = frame[dist].notna() | frame[speed].notna()
            sub = frame[rows]
            return pd.DataFrame({
                "timestamp": pd.to_numeric(sub[stamp], errors="coerce") if stamp is not None
                else pd.Series(np.arange(len(sub), dtype=np.float64), index=sub.index),
                "distance_mm": pd.to_numeric(sub[dist], errors="coerce"),
                "speed_mm": pd.to_numeric(sub[speed], errors="coerce"),
            })
        raise ValueError(f"{path}: no EncoderData packets in the dataqueue")

    # CSV route ----------------------------------------------------------------------

    def _from_csv(self, path):
        meta: dict = {"source_file": str(path), "dataqueue_file": None,
                      "source_method": "treadmill_csv_fallback", "time_basis": timeline.ENCODER_CLOCK,
                      "experiment_window": None, "alignment": None}
        frame = read_csv(path, info=meta)
        columns = {str(c).strip(): c for c in frame.columns}
        dist = next((columns[c] for c in _DISTANCE if c in columns), None)
        speed = next((columns[c] for c in _SPEED if c in columns), None)
        if "timestamp" not in columns or dist is None or speed is None:
            raise ValueError(
                f"{path}: not a treadmill CSV: expected columns timestamp, distance_mm (or "
                f"distance) and speed_mm (or speed); found {list(map(str, frame.columns))[:8]}")
        stamp = pd.to_numeric(frame[columns["timestamp"]], errors="coerce").to_numpy(dtype=np.float64)
        distance = pd.to_numeric(frame[dist], errors="coerce").to_numpy(dtype=np.float64)
        spd = pd.to_numeric(frame[speed], errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isfinite(stamp)
        if not ok.any():
            raise ValueError(f"{path}: no row has a numeric timestamp (the encoder's µs clock)")
        raw = np.round(stamp[ok]).astype(np.int64)
        unwrapped = timeline.unwrap_uint32(raw)
        t = (unwrapped - unwrapped[0]) * 1e-6
        value = pd.DataFrame({"timestamp": raw, "distance_mm": distance[ok], "speed_mm": spd[ok]})
        used = {columns["timestamp"], dist, speed}
        for name, original in columns.items():  # other columns of the CSV pass through
            if original not in used and name not in value.columns and name != "time_elapsed_s":
                value[name] = frame[original].to_numpy()[ok]
        t, value, info = timeline.take_monotonic(t, value)
        if t.size:
            t = t - t[0]
        if (~ok).sum():
            info = timeline.merge_order_info(info, {"n_dropped_nan_time": int((~ok).sum())})
        meta.update({"header": "legacy" if dist == "distance" else "current",
                     "n_samples": int(len(value)), **info})
        for name in ("distance_mm", "speed_mm"):
            missing = int(value[name].isna().sum())
            if missing:
                meta[f"n_missing_{name}"] = missing
        value["time_elapsed_s"] = t  # in the value too, as before
        return self.stream(t, value, meta)
