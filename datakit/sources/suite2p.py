"""``suite2p``: one suite2p plane folder (``..._suite2p/plane<N>/F.npy`` and its siblings).

Files (in the plane folder): ``F.npy``, ``Fneu.npy``, ``iscell.npy`` (required; a
FileNotFoundError names what is missing), ``spks.npy`` (optional) -- all read with
``allow_pickle=False`` -- and ``stat.npy``/``ops.npy`` (optional; object arrays, so
they unpickle: :func:`datakit.safety.require_pickle_allowed` is asked first and safe
mode refuses the load rather than silently applying a neuropil coefficient or frame
timing other than the recorded one).

Processing (cells = ROIs with ``iscell[:, 0]`` set; the others are dropped):

* ``F_corrected = F - neuropil_scale * Fneu`` with the scale from ``ops["neucoeff"]``
  (else ``settings.suite2p_neuropil_coefficient``), applied, and recorded in meta
  (``neuropil_scale``);
* ``deltaf_f = (F_corrected - F0) / F0`` with ``F0`` the per-cell
  ``settings.suite2p_baseline_percentile`` percentile (default 3, the earlier
  implementation's) of ``F_corrected`` (NaN rows for cells whose baseline is not
  positive, counted in meta); meta ``baseline_percentile`` records it.

Value (a mapping), named as the earlier implementation named it.  The 2-D arrays are
the one exception to "a time-series feature is a 1-D array of the stream's length":
``roi_fluorescence`` (F), ``neuropil_fluorescence`` (Fneu), ``F_corrected``,
``deltaf_f``, ``spks`` are (cells x frames), float32 (``spks`` is all NaN when there is
no spks.npy, so the cell types stay the same).  All ROIs: ``cell_identifier`` (iscell.npy,
float32 or int32) and ``cell_mask`` (bool, iscell[:, 0]).  Per cell (1-D, one entry per
cell): ``cell_index`` (ROI number in suite2p's arrays), ``iscell_prob`` and, when
``stat.npy`` is read, ``med_y``, ``med_x``, ``npix``.  ``stat`` (list of dicts, one per
ROI; ``[]`` without stat.npy), ``ops`` (dict; ``{}`` without ops.npy),
``plane_directory`` (str) and ``time_native_s`` (float32 copy of ``t``).

Timing: frame *i* is nidaq pulse ``i * pulses_per_frame`` of the SAME cell's dataqueue
(nidaq-role rows: the payload is the cumulative edge counter, interpolated against the
rows' master-clock times with :func:`datakit.timeline.interp_counter`; pulses are
counted from the first nidaq row; a payload that is not an increasing counter counts
one pulse per row).  ``pulses_per_frame`` comes from ``ops`` when recorded, else
``settings.suite2p_pulses_per_frame``.  Without a dataqueue (or without nidaq rows)
frames are ``i / ops["fs"]`` (``time_basis="suite2p_fs"``); with neither, the load
fails with a message saying so.  No other folder is ever searched.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import timeline
from ..safety import require_pickle_allowed
from .base import TIMESERIES, DataSource
from .readers import check_file, load_npy
from .registry import register_builtin
from .signals import Signal

SUITE2P_FS = "suite2p_fs"
#: (cells x frames) arrays
FRAME_ARRAYS = ("roi_fluorescence", "neuropil_fluorescence", "F_corrected", "deltaf_f", "spks")
REQUIRED_FILES = ("F.npy", "Fneu.npy", "iscell.npy")
_PPF_KEYS = ("pulses_per_frame", "nidaq_pulses_per_frame")


def load_plain(path) -> np.ndarray:
    """A numeric .npy without unpickling; clear errors naming the file."""
    return load_npy(path)


def load_pickled(path, what: str, allow_pickle):
    check_file(path)
    require_pickle_allowed(path, what, allow_pickle)
    try:
        return np.load(path, allow_pickle=True)
    except Exception as exc:  # UnpicklingError, EOFError, ValueError...
        raise ValueError(f"{path}: unreadable {what} ({type(exc).__name__}: {exc})") from None


def _ops_dict(ops, path) -> dict:
    if isinstance(ops, np.ndarray) and ops.dtype == object and ops.size == 1:
        ops = ops.item()
    if not isinstance(ops, dict):
        raise ValueError(f"{path}: expected suite2p ops (a dict), got {type(ops).__name__}")
    return ops


def _plain_numbers(value):
    """stat/ops content with numpy scalars unwrapped and arrays as float32/int32, as the
    earlier loader stored them (and without objects datakit's HDF5 cannot hold)."""
    if isinstance(value, dict):
        return {str(k): _plain_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_numbers(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return [_plain_numbers(v) for v in value.tolist()]
        if value.dtype.kind in "iu":
            return value.astype(np.int32, copy=False)
        if value.dtype.kind == "f":
            return value.astype(np.float32, copy=False)
        return value
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)  # a Path or another object: its text


def _stat_columns(stat, n_rois: int, path) -> dict:
    """med_y, med_x, npix per ROI from stat.npy (array of dicts)."""
    items = list(np.asarray(stat, dtype=object).reshape(-1))
    if len(items) != n_rois or not all(isinstance(s, dict) for s in items):
        raise ValueError(f"{path}: expected {n_rois} ROI dicts, got {len(items)} entries")
    med = [s.get("med", (np.nan, np.nan)) for s in items]
    med = np.asarray([(m[0], m[1]) if m is not None and len(m) >= 2 else (np.nan, np.nan)
                      for m in med], dtype=np.float64)
    npix = np.asarray([s.get("npix", np.nan) for s in items], dtype=np.float64)
    return {"med_y": med[:, 0], "med_x": med[:, 1], "npix": npix}


def _nidaq_frame_times(context, n_frames: int, ppf: int) -> tuple[np.ndarray, dict] | None:
    frame = context.dataqueue_frame
    if frame is None:
        return None
    rows = timeline.role_mask(frame, "nidaq", context.settings)
    if rows.sum() < 2:
        return None
    times = frame["time_elapsed_s"].to_numpy(dtype=np.float64)[rows]
    counter = timeline.payload_numbers(frame, rows)
    if np.isfinite(counter).all() and np.all(np.diff(counter) > 0):
        pulses, how = counter - counter[0], "payload_counter"
    else:
        pulses, how = np.arange(times.size, dtype=np.float64), "row_count"
    targets = np.arange(n_frames, dtype=np.float64) * ppf
    t = timeline.interp_counter(pulses, times, targets)
    n_pulses = float(pulses[-1]) + 1
    return t, {
        "time_basis": timeline.dataqueue_basis(context),
        "dataqueue_file": (context.dataqueue_meta or {}).get("source_file"),
        "alignment": f"nidaq_{how}",
        "pulses_per_frame": int(ppf),
        "n_frames_beyond_pulses": int((targets > pulses[-1]).sum()),
        # the earlier implementation's pulse statistics (rows received, pulses they span)
        "nidaq_pulses_received": int(times.size),
        "dq_pulse_span": int(n_pulses),
        "dq_expected_pulse_span": int(ppf * n_frames),
        "dq_pulse_span_match": bool(int(n_pulses) == int(ppf * n_frames)),
    }


@register_builtin
class Suite2pSource(DataSource):
    tag = "suite2p"
    meta_keys = (
        "alignment", "array_layout", "baseline_percentile", "baseline_percentile_mean",
        "dataqueue_file", "dq_expected_pulse_span", "dq_pulse_span", "dq_pulse_span_match",
        "filtered_cells", "has_ops", "has_spks", "has_stat", "n_cells",
        "n_cells_nonpositive_baseline", "n_frames", "n_frames_beyond_pulses", "n_rois",
        "neuropil_scale", "neuropil_scale_source", "nidaq_pulses_received", "plane",
        "processing_status", "pulses_per_frame", "pulses_per_frame_source", "rate_hz",
        "session_dir", "source_file", "time_basis", "total_rois",
    )
    patterns = ("**/*_suite2p/**/F.npy",)
    requires = ("dataqueue",)
    kind = TIMESERIES
    description = "suite2p cells: neuropil-corrected fluorescence, dF/F and spikes on nidaq frame times"
    signals = (Signal("deltaf_f", "cell ΔF/F", "ΔF/F"),)          # cells x frames: one signal

    @classmethod
    def inputs(cls, path) -> list:
        plane = Path(path).parent
        return [plane / name for name in (*REQUIRED_FILES, "spks.npy", "ops.npy", "stat.npy")]

    def load(self, path, *, context=None):
        context = self.context_or_default(path, context)
        settings = context.settings
        plane = path.parent
        arrays = _read_plane(plane, settings)
        F = arrays["F"]
        n_rois, n_frames = F.shape
        dq_file = (context.dataqueue_meta or {}).get("source_file")
        meta: dict = {"source_file": str(path), "plane": plane.name,
                      "session_dir": _session_dir(dq_file), "n_rois": int(n_rois),
                      "n_frames": int(n_frames), "has_spks": arrays["spks"] is not None,
                      "has_stat": arrays["stat"] is not None, "has_ops": arrays["ops"] is not None}
        neucoeff, ppf = _processing_parameters(arrays["ops"], settings, plane, meta)
        value = _cells(arrays, neucoeff, float(settings.suite2p_baseline_percentile), plane, meta)
        t, info = _frame_times(path, plane, context, arrays["ops"], n_frames, ppf)
        meta.update(info)
        idx, order_info = timeline.monotonic_index(t)
        if order_info:  # keep the 2-D arrays' frame axis in step with t
            t = t[idx]
            for key in FRAME_ARRAYS:
                value[key] = value[key][:, idx]
            meta.update(order_info)
        value["time_native_s"] = t.astype(np.float32)
        value["time_elapsed_s"] = t.copy()  # in the value too, as before
        return self.stream(t, value, meta)


def _read_plane(plane: Path, settings) -> dict:
    """F, Fneu, iscell (required), spks, ops, stat (optional) of a plane folder, checked."""
    missing = [name for name in REQUIRED_FILES if not (plane / name).exists()]
    if missing:
        raise FileNotFoundError(
            f"{plane}: suite2p plane folder is missing {', '.join(missing)} "
            f"(needs {', '.join(REQUIRED_FILES)})")
    F = load_plain(plane / "F.npy")
    Fneu = load_plain(plane / "Fneu.npy")
    iscell = load_plain(plane / "iscell.npy")
    if F.ndim != 2:
        raise ValueError(f"{plane / 'F.npy'}: expected ROIs x frames, got shape {F.shape}")
    if Fneu.shape != F.shape:
        raise ValueError(f"{plane / 'Fneu.npy'}: shape {Fneu.shape} does not match F.npy {F.shape}")
    iscell = iscell.reshape(len(iscell), -1) if iscell.ndim else iscell.reshape(1, 1)
    if iscell.shape[0] != F.shape[0]:
        raise ValueError(f"{plane / 'iscell.npy'}: {iscell.shape[0]} rows for {F.shape[0]} ROIs")
    spks = None
    if (plane / "spks.npy").exists():
        spks = load_plain(plane / "spks.npy")
        if spks.shape != F.shape:
            raise ValueError(f"{plane / 'spks.npy'}: shape {spks.shape} does not match F.npy {F.shape}")
    ops = stat = None
    if (plane / "ops.npy").exists():
        ops = _ops_dict(load_pickled(plane / "ops.npy", "suite2p ops", settings.allow_pickle),
                        plane / "ops.npy")
    if (plane / "stat.npy").exists():
        stat = load_pickled(plane / "stat.npy", "suite2p stat", settings.allow_pickle)
    return {"F": F, "Fneu": Fneu, "iscell": iscell, "spks": spks, "ops": ops, "stat": stat}


def _processing_parameters(ops, settings, plane: Path, meta: dict) -> tuple[float, int]:
    """The neuropil coefficient and nidaq pulses per frame: from ops, else the settings."""
    if ops is not None and _finite(ops.get("neucoeff")):
        neucoeff, meta["neuropil_scale_source"] = float(ops["neucoeff"]), "ops"
    else:
        neucoeff, meta["neuropil_scale_source"] = (float(settings.suite2p_neuropil_coefficient),
                                                   "settings")
    ppf_key = next((k for k in _PPF_KEYS if ops is not None and _finite(ops.get(k))), None)
    if ppf_key is not None:
        ppf, meta["pulses_per_frame_source"] = int(ops[ppf_key]), f"ops[{ppf_key!r}]"
    else:
        ppf, meta["pulses_per_frame_source"] = int(settings.suite2p_pulses_per_frame), "settings"
    if ppf < 1:
        raise ValueError(f"{plane / 'ops.npy'}: pulses per frame must be >= 1, got {ppf}")
    return neucoeff, ppf


def _cells(arrays: dict, neucoeff: float, pct: float, plane: Path, meta: dict) -> dict:
    """The cells' arrays (iscell kept): corrected F, ΔF/F over the ``pct`` percentile baseline."""
    F, Fneu, iscell, spks, ops, stat = (arrays[k] for k in ("F", "Fneu", "iscell", "spks", "ops", "stat"))
    n_rois, n_frames = F.shape
    keep = iscell[:, 0] > 0.5
    cells = np.flatnonzero(keep)
    prob = iscell[:, 1] if iscell.shape[1] > 1 else iscell[:, 0]
    F_c = F[cells].astype(np.float32)
    Fneu_c = Fneu[cells].astype(np.float32)
    corrected = (F_c - np.float32(neucoeff) * Fneu_c).astype(np.float32)
    if n_frames:
        baseline = np.percentile(corrected, pct, axis=1, keepdims=True)
    else:
        baseline = np.full((cells.size, 1), np.nan, dtype=np.float32)
    good = baseline > 0
    with np.errstate(all="ignore"):
        dff = np.where(good, (corrected - baseline) / baseline, np.nan).astype(np.float32)
    value = {
        "cell_identifier": iscell.astype(np.int32 if iscell.dtype.kind in "iub" else np.float32),
        "stat": _plain_numbers(stat) if stat is not None else [],
        "ops": _plain_numbers(ops) if ops is not None else {},
        "plane_directory": str(plane),
        "cell_mask": keep.copy(),
        "roi_fluorescence": F_c,
        "neuropil_fluorescence": Fneu_c,
        "F_corrected": corrected,
        "deltaf_f": dff,
        "spks": spks[cells].astype(np.float32) if spks is not None
        else np.full(F_c.shape, np.nan, dtype=np.float32),
        "cell_index": cells.astype(np.int64),
        "iscell_prob": prob[cells].astype(np.float64),
    }
    if stat is not None:
        for name, column in _stat_columns(stat, n_rois, plane / "stat.npy").items():
            value[name] = column[cells]
    meta.update({
        "n_cells": int(cells.size),
        "total_rois": int(n_rois),
        "filtered_cells": int(cells.size),
        "processing_status": "ok",
        "neuropil_scale": neucoeff,
        "baseline_percentile": pct,
        "baseline_percentile_mean": float(np.nanmean(baseline)) if baseline.size else None,
        "n_cells_nonpositive_baseline": int((~good).sum()),
        "array_layout": "cells x frames (roi_fluorescence, neuropil_fluorescence, "
                        "F_corrected, deltaf_f, spks); per ROI: cell_identifier, cell_mask; "
                        "per cell 1-D: cell_index, iscell_prob, med_y, med_x, npix",
    })
    return value


def _frame_times(path, plane: Path, context, ops, n_frames: int, ppf: int) -> tuple[np.ndarray, dict]:
    """Frame times from the cell's nidaq pulses, else ops' frame rate (else a ValueError)."""
    found = _nidaq_frame_times(context, n_frames, ppf)
    if found is not None:
        return found
    fs = ops.get("fs") if ops is not None else None
    if not _finite(fs) or float(fs) <= 0:
        why = ("no dataqueue" if context.dataqueue_frame is None
               else "the dataqueue has fewer than 2 nidaq rows")
        raise ValueError(
            f"{path}: cannot time suite2p frames: {why} and no usable frame rate "
            f"('fs') in {plane / 'ops.npy'}")
    return (np.arange(n_frames, dtype=np.float64) / float(fs),
            {"time_basis": SUITE2P_FS, "alignment": "ops_fs", "rate_hz": float(fs)})


def _session_dir(dataqueue_file) -> str | None:
    """The session folder of the cell's dataqueue (its ``beh/`` folder's parent)."""
    if not dataqueue_file:
        return None
    folder = Path(dataqueue_file).parent
    return str(folder.parent if folder.name in ("beh", "func") else folder)


def _finite(value) -> bool:
    try:
        return value is not None and bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False
