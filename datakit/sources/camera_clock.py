"""Frame times of a camera on the cell's clock, best source first.

1. the camera's rows in the dataqueue (master clock): frame numbers are matched to the
   rows' ``payload`` (the camera's ImageNumber), so a frame the queue dropped is
   interpolated between its neighbours instead of shifting every later frame; when the
   payload is not a frame counter, frames are matched by count;
2. the camera's frame-metadata sidecar, already loaded as a dependency;
3. ``timestamps.csv``: frames spread evenly between the camera's started and stopped;
4. the configured rate (settings), ``time_basis="assumed_rate"``.

Besides ``time_basis`` and ``alignment``, the meta keeps the earlier implementation's
timing keys: ``dataqueue_file``, ``dataqueue_device``, ``dataqueue_anchors`` (camera rows
in the queue) and ``dataqueue_alignment`` (``direct`` when every frame has its row, else
``resampled``); from a sidecar ``<sidecar>_file``, ``<sidecar>_alignment``
(``metadata_direct``/``metadata_resampled``) and ``<sidecar>_frames``.
"""
from __future__ import annotations

import numpy as np

from .. import timeline


def counter_offset(payload: np.ndarray, frame_numbers: np.ndarray) -> float:
    """How far the camera's counter in the dataqueue is ahead of the file's frame numbers.

    When the first and the last frames agree on the offset, that is it (a counter that
    starts at 1, say).  When they disagree, rows or frames are missing at one end (the
    queue lost its first packets, a file was cut short) and the counter is taken as
    sharing the frames' origin (ImageNumber counts from 0 like the frames) when that
    lies between the two, else the first frames decide.
    """
    first = float(payload[0] - np.min(frame_numbers))
    last = float(payload[-1] - np.max(frame_numbers))
    if first == last:
        return first
    if min(first, last) <= 0 <= max(first, last):
        return 0.0
    return first


def from_dataqueue(context, role: str, frame_numbers: np.ndarray) -> tuple[np.ndarray, dict] | None:
    frame = context.dataqueue_frame
    if frame is None:
        return None
    rows = timeline.role_mask(frame, role, context.settings)
    if rows.sum() < 2:
        return None
    t_rows = frame["time_elapsed_s"].to_numpy()[rows]
    basis = timeline.dataqueue_basis(context)
    payload = timeline.payload_numbers(frame, rows)
    n = frame_numbers.size
    earlier = {"dataqueue_file": (context.dataqueue_meta or {}).get("source_file"),
               "dataqueue_device": str(frame["device_id"][rows].iloc[0]),
               "dataqueue_anchors": int(t_rows.size)}
    if n and np.isfinite(payload).all() and np.all(np.diff(payload) > 0):
        offset = counter_offset(payload, frame_numbers)
        times = timeline.interp_counter(payload - offset, t_rows, frame_numbers)
        matched = int(np.isin(frame_numbers, payload - offset).sum())
        meta = {"time_basis": basis, "alignment": "frame_number",
                "n_frames_matched": matched, **earlier,
                "dataqueue_alignment": "direct" if matched == n else "resampled"}
        if offset:
            meta["frame_counter_offset"] = offset
        return times, meta
    times, method = timeline.align_by_count(t_rows, n)
    return times, {"time_basis": basis, "alignment": f"count_{method}", **earlier,
                   "dataqueue_alignment": method}


def from_timestamps(context, device_role: str, n: int) -> tuple[np.ndarray, dict] | None:
    stream = context.get_dependency("timestamps") if context is not None else None
    if stream is None or n < 2:
        return None
    table = stream.value
    hit = context.settings.devices.mask(device_role, table["device_id"].to_numpy(dtype=object))
    if not hit.any():
        return None
    row = table[hit].iloc[0]
    start, stop = float(row["start_s"]), float(row["stop_s"])
    if not (np.isfinite(start) and np.isfinite(stop) and stop > start):
        return None
    return np.linspace(start, stop, n), {
        "time_basis": stream.meta.get("time_basis"),
        "alignment": "timestamps_span",
        "rate_hz": (n - 1) / (stop - start),
    }


def frame_times(context, role: str, frame_numbers, *, sidecar_tag: str | None,
                assumed_rate_hz: float) -> tuple[np.ndarray, dict]:
    frame_numbers = np.asarray(frame_numbers, dtype=np.float64)
    n = frame_numbers.size
    found = from_dataqueue(context, role, frame_numbers)
    if found is not None:
        return found
    sidecar = context.get_dependency(sidecar_tag) if sidecar_tag else None
    if sidecar is not None and sidecar.t.size >= 2:
        earlier = {f"{sidecar_tag}_file": sidecar.meta.get("source_file"),
                   f"{sidecar_tag}_frames": int(sidecar.t.size)}
        if sidecar.t.size == n:
            return sidecar.t.copy(), {"time_basis": sidecar.meta.get("time_basis"),
                                      "alignment": f"{sidecar_tag}_frames", **earlier,
                                      f"{sidecar_tag}_alignment": "metadata_direct"}
        times, method = timeline.align_by_count(sidecar.t, n)
        return times, {"time_basis": sidecar.meta.get("time_basis"),
                       "alignment": f"{sidecar_tag}_{method}", **earlier,
                       f"{sidecar_tag}_alignment": f"metadata_{method}"}
    found = from_timestamps(context, role, n)
    if found is not None:
        return found
    return (frame_numbers - (frame_numbers[0] if n else 0)) / assumed_rate_hz, {
        "time_basis": timeline.ASSUMED_RATE, "alignment": "assumed_rate",
        "rate_hz": assumed_rate_hz}
