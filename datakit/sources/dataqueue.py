"""``dataqueue``: the acquisition queue CSV, the cell's master clock.

Header ``queue_elapsed,packet_ts,device_ts,device_id,payload`` (+ fanned-out dict payload
columns since 2026).  Numeric payloads (camera ImageNumber, nidaq edge counter) are in
``payload_value``; ``payload`` keeps the text ones (encoder packets) and is empty for
numeric rows.  ``t`` is ``queue_elapsed`` on the master clock: zero at the first
master-camera row (settings.devices.master_camera), rows sorted, ties nudged by a few
ulps so ``t`` strictly increases and no row is lost.  Without master-camera rows the zero
is the first row and ``time_basis`` says ``dataqueue_first_row``.

Repairs, counted in meta: rows without a numeric ``queue_elapsed`` are dropped
(``n_dropped_nan_time``), rows out of order are sorted (``resorted``), a packet
written twice (a row identical to an earlier one at the same time) is dropped
(``n_dropped_duplicate_rows``), distinct packets sharing a time are kept and nudged
apart (``n_tied_times_nudged``), a cut-off last line is left out
(``n_dropped_truncated_rows``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import timeline
from .base import TIMESERIES, DataSource
from .readers import read_csv
from .registry import register_builtin

REQUIRED = ("queue_elapsed", "device_id")


@register_builtin
class DataqueueSource(DataSource):
    tag = "dataqueue"
    patterns = ("*_dataqueue.csv",)
    kind = TIMESERIES
    description = "Acquisition queue: every device packet on the master clock"
    signals = ()                      # the clock itself: nothing drawn by default

    def load(self, path, *, context=None):
        context = self.context_or_default(path, context)
        settings = context.settings
        meta: dict = {"source_file": str(path)}
        frame = read_csv(path, info=meta)
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            raise ValueError(
                f"{path}: not a dataqueue file: missing column(s) {missing} "
                f"(found {list(frame.columns)[:8]})")
        if frame.empty:
            raise ValueError(f"{path}: dataqueue has no rows")
        qe = pd.to_numeric(frame["queue_elapsed"], errors="coerce").to_numpy(dtype=np.float64)
        finite = np.isfinite(qe)
        if not finite.all():
            meta["n_dropped_nan_time"] = int((~finite).sum())
            frame, qe = frame[finite], qe[finite]
        if qe.size == 0:
            raise ValueError(f"{path}: no row has a numeric queue_elapsed")
        if np.any(np.diff(qe) < 0):
            order = np.argsort(qe, kind="stable")
            frame, qe = frame.iloc[order], qe[order]
            meta["resorted"] = True
        frame, qe = _drop_repeated_packets(frame, qe, meta)
        qe, ties = timeline.break_ties(qe)
        if ties:
            meta["n_tied_times_nudged"] = ties
        frame = frame.reset_index(drop=True)
        frame["queue_elapsed"] = qe
        if not isinstance(frame["device_id"].dtype, pd.CategoricalDtype):
            frame["device_id"] = frame["device_id"].astype(str).astype("category")

        master = timeline.role_mask(frame, "master_camera", settings)
        if master.any():
            zero = float(qe[np.argmax(master)])
            basis = timeline.MASTER
            last = float(qe[len(qe) - 1 - np.argmax(master[::-1])])
            window = [0.0, last - zero]
            master_id = str(frame["device_id"].iloc[int(np.argmax(master))])
        else:
            zero = float(qe[0])
            basis = timeline.DATAQUEUE_FIRST_ROW
            window = None
            master_id = None
        t = qe - zero
        frame["time_elapsed_s"] = t

        if "payload" in frame.columns:
            # numbers (ImageNumber, nidaq counter) parsed once into payload_value; payload
            # keeps only the text payloads (encoder packets), so a materialized cell does
            # not carry 200k number strings (slow to pickle between processes)
            value = pd.to_numeric(frame["payload"], errors="coerce").astype(np.float64)
            frame["payload_value"] = value
            frame["payload"] = frame["payload"].where(value.isna())
        for column in ("packet_ts", "device_ts"):
            if column in frame.columns:
                parsed = timeline.parse_wall(frame[column])
                if parsed.notna().any():
                    frame[column] = parsed

        counts = frame["device_id"].value_counts(sort=False)
        devices = {str(k): int(v) for k, v in counts.items() if v}
        rates, starts = _device_stats(frame, t)
        wall_map = None
        if "packet_ts" in frame.columns and frame["packet_ts"].dtype.kind == "M":
            rows = master if master.any() else np.ones(len(frame), dtype=bool)
            wall_map = timeline.fit_wall_map(
                timeline.wall_seconds(frame["packet_ts"].to_numpy()[rows]), t[rows], basis)
        meta.update({
            "n_rows": int(len(frame)),
            "devices": devices,
            "master_device_id": master_id,
            "master_queue_start": zero,
            "time_basis": basis,
            "experiment_window": window,
            "device_sample_rate_hz": rates,
            "device_start_s": starts,
            "wallclock_to_master": wall_map.to_meta() if wall_map else None,
        })
        if basis == timeline.DATAQUEUE_FIRST_ROW:
            meta["note"] = ("no master-camera rows (looked for device ids containing "
                            f"{list(settings.devices.master_camera)}); zero is the first row")
        return self.stream(t, frame, meta)


def _drop_repeated_packets(frame: pd.DataFrame, qe: np.ndarray, meta: dict):
    """Rows identical in every column to an earlier row (a packet written twice) are
    dropped; only rows sharing a time with their predecessor are compared."""
    tied = np.zeros(qe.size, dtype=bool)
    tied[1:] = qe[1:] == qe[:-1]
    if not tied.any():
        return frame, qe
    group = np.cumsum(~tied)                         # one id per run of equal times
    in_run = np.isin(group, group[tied])
    sub = frame[in_run]
    repeated = np.zeros(qe.size, dtype=bool)
    repeated[np.flatnonzero(in_run)] = sub.astype(str).duplicated(keep="first").to_numpy()
    if repeated.any():
        meta["n_dropped_duplicate_rows"] = int(repeated.sum())
        frame, qe = frame[~repeated], qe[~repeated]
    return frame, qe


def _device_stats(frame: pd.DataFrame, t: np.ndarray) -> tuple[dict, dict]:
    """Median sample rate and first time of each device (vectorised by group)."""
    codes = frame["device_id"].cat.codes.to_numpy()
    cats = frame["device_id"].cat.categories
    rates, starts = {}, {}
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    bounds = np.flatnonzero(np.diff(sorted_codes)) + 1
    for chunk in np.split(order, bounds):
        if chunk.size == 0 or codes[chunk[0]] < 0:
            continue
        name = str(cats[codes[chunk[0]]])
        times = t[chunk]
        starts[name] = float(times[0])
        steps = np.diff(times)
        steps = steps[steps > 0]
        rates[name] = float(1.0 / np.median(steps)) if steps.size else None
    return rates, starts
