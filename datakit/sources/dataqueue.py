"""``dataqueue``: the acquisition queue CSV, the cell's master clock.

Header ``queue_elapsed,packet_ts,device_ts,device_id,payload`` (+ fanned-out dict payload
columns since 2026).  Features, as the earlier implementation named them: every column of
the file, with ``payload`` the numbers (camera ImageNumber, nidaq edge counter) as
float32 and NaN for text; the text payloads (treadmill ``EncoderData(...)`` packets) are
kept in ``payload_text`` (None for numeric rows); ``packet_ts``/``device_ts`` are
datetimes (UTC-labelled, as before: the digits are the rig's local wall clock);
``device_id`` is categorical; ``queue_elapsed`` is the file's value; ``time_elapsed_s``
is ``t``.  ``t`` is ``queue_elapsed`` on the master clock: zero at the first
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
    meta_keys = (
        "affine", "device_aliases", "device_sample_rate_hz", "device_start_s", "devices",
        "experiment_window", "master_device_id", "master_queue_start",
        "n_dropped_duplicate_rows", "n_dropped_nan_time", "n_dropped_truncated_rows",
        "n_entries", "n_tied_times_nudged", "note", "per_device_queue_start", "resorted",
        "source_file", "time_basis", "truncation_note", "wallclock_to_master",
    )
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
        frame = frame.reset_index(drop=True)
        frame["queue_elapsed"] = qe        # the file's values (sorted), before nudging ties
        qe, ties = timeline.break_ties(qe)
        if ties:
            meta["n_tied_times_nudged"] = ties
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
            # as before: the first non-empty device id stands in (else "master")
            ids = frame["device_id"].astype(str).str.strip()
            named = ids[(ids != "") & (ids.str.lower() != "nan")]
            master_id = str(named.iloc[0]) if len(named) else "master"
        t = qe - zero
        frame["time_elapsed_s"] = t

        if "payload" in frame.columns:
            # numbers (ImageNumber, nidaq counter) as float32, as the earlier implementation
            # had them; the text payloads (encoder packets) move to payload_text, so a
            # materialized cell does not carry 200k number strings
            raw = frame["payload"]
            value = pd.to_numeric(raw, errors="coerce")
            is_text = (value.isna() & raw.notna()).to_numpy()
            text = raw.where(is_text) if is_text.any() else \
                pd.Series(None, index=frame.index, dtype=object)
            frame["payload"] = value.astype(np.float32)
            frame.insert(frame.columns.get_loc("payload") + 1, "payload_text", text)
        for column in ("packet_ts", "device_ts"):
            if column in frame.columns:
                parsed = timeline.parse_wall(frame[column])
                if parsed.notna().any():
                    frame[column] = parsed.dt.tz_localize("UTC")

        counts = frame["device_id"].value_counts(sort=False)
        devices = {str(k): int(v) for k, v in counts.items() if v}
        rates, starts = _device_stats(frame, t)
        wall_map = None
        if "packet_ts" in frame.columns and frame["packet_ts"].dtype.kind == "M":
            rows = master if master.any() else np.ones(len(frame), dtype=bool)
            wall_map = timeline.fit_wall_map(
                timeline.wall_seconds(frame["packet_ts"][rows]), t[rows], basis)
        meta.update({
            "n_entries": int(len(frame)),
            "devices": devices,
            "master_device_id": master_id,
            "master_queue_start": zero,
            "per_device_queue_start": {name: s + zero for name, s in starts.items()},
            "device_aliases": _aliases(devices, settings),
            "affine": _affine(frame, master if master.any() else None, t),
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


def _aliases(devices: dict, settings) -> dict:
    """Device ids of the master and pupil cameras -> ``meso``/``pupil`` (earlier meta)."""
    out = {}
    for device in devices:
        if settings.devices.matches("master_camera", device):
            out[device] = "meso"
        elif settings.devices.matches("pupil_camera", device):
            out[device] = "pupil"
    return out


def _affine(frame: pd.DataFrame, master, t: np.ndarray) -> dict | None:
    """``{a, b}`` with ``epoch_s = a * t + b`` from the master camera's first and last
    (t, device_ts) pair (earlier meta ``affine``); None with fewer than 2 such points."""
    if "device_ts" not in frame.columns or frame["device_ts"].dtype.kind != "M" or master is None:
        return None
    wall = timeline.wall_seconds(frame["device_ts"][master])
    times = t[master]
    ok = np.isfinite(wall)
    if ok.sum() < 2:
        return None
    wall, times = wall[ok], times[ok]
    if times[-1] == times[0]:
        return None
    a = (wall[-1] - wall[0]) / (times[-1] - times[0])
    return {"a": float(a), "b": float(wall[0] - a * times[0])}


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
