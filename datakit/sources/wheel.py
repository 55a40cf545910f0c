"""``wheel``: running wheel encoder CSV (``Clicks,Time,Speed`` [+ ``Started``, ``Stopped``]).

``Clicks`` is the click count since the previous sample, ``Time`` the wheel's own clock
in seconds and ``Speed`` the speed in mm/s; ``Started``/``Stopped`` (usually filled on
the first row only) are the naive local wall-clock times the device started/stopped.

Timing, best first:

1. the dataqueue's encoder-role rows (``settings.devices.encoder``), one per wheel
   sample, on the master clock: used as they are when the counts match
   (``alignment="dataqueue_direct"``), else (rows lost by the queue, a wheel file cut
   short) the wheel's own clock is fitted to the rows its samples pair with
   (:func:`datakit.timeline.align_by_clock`, ``"dataqueue_resampled"``), so a missing
   stretch never stretches the rest;
2. no dataqueue (or fewer than 2 encoder rows): the wheel's own clock put on the wall
   clock with its first sample at ``Started`` (``Time`` is the encoder firmware's clock,
   whose zero is not the device start: the first sample follows ``Started`` within tens
   of ms), then onto the session clock with :func:`datakit.timeline.session_wall_map`
   (the dataqueue's wall-clock fit, else ``timestamps.csv``); ``time_basis`` is that
   map's basis and ``alignment="wall_clock_started"``;
3. otherwise the wheel's own clock with zero at its first sample,
   ``time_basis="wheel_clock"``.

Rows without a numeric ``Time`` are dropped (``n_dropped_nan_time``), rows out of order
sorted (``resorted``) and repeated ``Time`` values dropped (``n_dropped_duplicate_time``)
before timing, so a repeated row never shifts the alignment.

Features: ``click_delta`` (int64), ``click_position`` (cumulative clicks),
``speed_mm`` (mm/s), ``distance_mm`` (trapezoid integral of speed over the wheel's own
clock, starting at 0), ``time_reference_s`` (the raw ``Time``), ``time_absolute`` (each
sample's wall-clock time as ISO text ending in ``Z``, when the cell has a dataqueue with
packet times), ``time_elapsed_s``.  Meta keeps the earlier implementation's alignment
keys: ``dataqueue_file``, ``dataqueue_alignment`` (``direct``/``resampled``/
``insufficient_anchors``), ``dataqueue_anchors``, ``alignment_device``,
``alignment_origin_device``/``_queue_elapsed`` (the master clock's zero: the first
master-camera row) and ``alignment_origin_offset`` (first encoder row minus the origin).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import timeline
from .base import TIMESERIES, DataSource
from .readers import read_csv, require_columns
from .registry import register_builtin
from .signals import Signal

WHEEL_CLOCK = "wheel_clock"
REQUIRED = ("Clicks", "Time", "Speed")


def _first_wall(frame: pd.DataFrame, column: str) -> pd.Timestamp | None:
    if column not in frame.columns:
        return None
    values = frame[column].dropna()
    if values.empty:
        return None
    parsed = timeline.parse_wall(values.astype(str).str.strip())
    parsed = parsed.dropna()
    return None if parsed.empty else pd.Timestamp(parsed.iloc[0])


def _absolute_times(context, t: np.ndarray) -> np.ndarray | None:
    """Wall-clock time of each sample as ISO text ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (the
    earlier ``time_absolute``), through the dataqueue's packet-time fit; None without one."""
    mapping = timeline.wall_map(context)
    if mapping is None or mapping.a == 0:
        return None
    epoch = (np.asarray(t, dtype=np.float64) - mapping.b) / mapping.a + mapping.w0
    stamps = np.round(epoch * 1e6).astype("datetime64[us]")
    return (np.datetime_as_string(stamps, unit="us").astype(object) + "Z")


def _encoder_anchor_times(context) -> tuple[np.ndarray | None, dict]:
    """Master-clock times of the dataqueue's wheel encoder rows (None without a dataqueue)."""
    frame = context.dataqueue_frame
    if frame is None:
        return None, {}
    rows = timeline.role_mask(frame, "encoder", context.settings)
    info: dict = {}
    text_column = "payload_text" if "payload_text" in frame.columns else "payload"
    if rows.any() and text_column in frame.columns:
        # a treadmill on the same role writes EncoderData(...) packets: not wheel samples
        payload = frame[text_column][rows].astype("string")
        packets = payload.str.contains("EncoderData(", regex=False, na=False).to_numpy()
        if packets.any() and not packets.all():
            keep = np.flatnonzero(rows)[~packets]
            rows = np.zeros(len(frame), dtype=bool)
            rows[keep] = True
            info["n_treadmill_packets_ignored"] = int(packets.sum())
    times = frame["time_elapsed_s"].to_numpy(dtype=np.float64)[rows]
    info["alignment_device"] = str(frame["device_id"][rows].iloc[0]) if rows.any() else None
    return times, info


@register_builtin
class WheelSource(DataSource):
    tag = "wheel"
    meta_keys = (
        "alignment", "alignment_device", "alignment_origin_device", "alignment_origin_offset",
        "alignment_origin_queue_elapsed", "dataqueue_alignment", "dataqueue_anchors",
        "dataqueue_file", "duration_s", "n_dropped_duplicate_time", "n_dropped_nan_time",
        "n_dropped_truncated_rows", "n_missing_clicks_as_zero", "n_missing_speed",
        "n_paired_samples", "n_samples", "n_treadmill_packets_ignored", "note",
        "resample_method", "resorted", "source_file", "source_method", "start_time",
        "stop_time", "time_basis", "total_click_delta", "total_distance_mm", "truncation_note",
    )
    patterns = ("*_wheel.csv",)
    requires = ("dataqueue", "timestamps")
    kind = TIMESERIES
    description = "Running wheel encoder (clicks, speed, distance) on the master clock"
    signals = (Signal("speed_mm", "speed", "mm/s"),)

    def load(self, path, *, context=None):
        context = self.context_or_default(path, context)
        meta: dict = {"source_file": str(path), "source_method": "wheel_csv_v2"}
        raw = read_csv(path, info=meta)
        raw.columns = [str(c).strip() for c in raw.columns]
        require_columns(raw, REQUIRED, path, "wheel CSV (Clicks,Time,Speed)")
        time = pd.to_numeric(raw["Time"], errors="coerce").to_numpy(dtype=np.float64)
        clicks = pd.to_numeric(raw["Clicks"], errors="coerce").to_numpy(dtype=np.float64)
        speed = pd.to_numeric(raw["Speed"], errors="coerce").to_numpy(dtype=np.float64)

        if not np.isfinite(time).any():
            raise ValueError(f"{path}: no row has a numeric Time (wheel clock, seconds)")
        keep, order_info = timeline.monotonic_index(time)
        meta.update(order_info)
        time, clicks, speed = time[keep], clicks[keep], speed[keep]
        bad_clicks = ~np.isfinite(clicks)
        if bad_clicks.any():
            meta["n_missing_clicks_as_zero"] = int(bad_clicks.sum())
            clicks = np.where(bad_clicks, 0.0, clicks)
        bad_speed = ~np.isfinite(speed)
        if bad_speed.any():
            meta["n_missing_speed"] = int(bad_speed.sum())

        click_delta = np.round(clicks).astype(np.int64)
        own = time - time[0]
        distance = np.zeros(time.size)
        if time.size > 1:
            s = np.where(bad_speed, 0.0, speed)
            distance[1:] = np.cumsum(0.5 * (s[:-1] + s[1:]) * np.diff(own))
        value = pd.DataFrame({
            "click_delta": click_delta,
            "click_position": np.cumsum(click_delta),
            "speed_mm": speed,
            "distance_mm": distance,
            "time_reference_s": time,
        })

        started = _first_wall(raw, "Started")
        stopped = _first_wall(raw, "Stopped")
        meta["start_time"] = started.isoformat() if started is not None else None
        meta["stop_time"] = stopped.isoformat() if stopped is not None else None

        t, info = self._times(context, own, started)
        meta.update(info)
        absolute = _absolute_times(context, t)
        if absolute is not None:
            value["time_absolute"] = absolute
        t, value, more = timeline.take_monotonic(t, value)
        meta.update(timeline.merge_order_info(order_info, more))
        meta.update({
            "n_samples": int(len(value)),
            "duration_s": float(own[-1]),
            "total_distance_mm": float(value["distance_mm"].iloc[-1]) if len(value) else 0.0,
            "total_click_delta": int(click_delta.sum()),
        })
        value["time_elapsed_s"] = t  # in the value too, as before
        return self.stream(t, value, meta)

    @staticmethod
    def _times(context, own: np.ndarray, started) -> tuple[np.ndarray, dict]:
        n = own.size
        anchors, info = _encoder_anchor_times(context)
        if anchors is not None:
            dq_meta = context.dataqueue_meta or {}
            info.update({"dataqueue_file": dq_meta.get("source_file"),
                         "dataqueue_anchors": int(anchors.size)})
            if anchors.size >= 2:
                if anchors.size == n:
                    t, method = anchors.copy(), "direct"
                else:  # rows missing on one side: pair samples with rows through the wheel clock
                    t, fit = timeline.align_by_clock(anchors, own)
                    method = "resampled"
                    info.update(fit)
                # the origin: the master clock's zero (the first master-camera frame)
                info.update({"time_basis": timeline.dataqueue_basis(context),
                             "alignment": f"dataqueue_{method}",
                             "dataqueue_alignment": method,
                             "alignment_origin_device": dq_meta.get("master_device_id"),
                             "alignment_origin_queue_elapsed": dq_meta.get("master_queue_start"),
                             "alignment_origin_offset": float(anchors[0])})
                return t, info
            info["dataqueue_alignment"] = "insufficient_anchors"
            info["note"] = (f"dataqueue has {anchors.size} encoder row(s) (device ids containing "
                            f"{list(context.settings.devices.encoder)}); wheel clock used instead")
        mapping = timeline.session_wall_map(context)
        if mapping is not None and started is not None:
            start_epoch = float(timeline.wall_seconds([started])[0])
            info.update({"time_basis": mapping.basis, "alignment": "wall_clock_started"})
            return mapping(start_epoch + own), info
        info.update({"time_basis": WHEEL_CLOCK, "alignment": "wheel_clock_first_sample"})
        return own.copy(), info
