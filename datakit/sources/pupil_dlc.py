"""``pupil_dlc``: DeepLabCut pupil tracking (HDF5 table or ``*_full.pickle``) -> pupil diameter.

Inputs
    * DLC HDF5 (``df_with_missing``, else the file's first key): columns
      (scorer, bodyparts, coords) for single-animal projects or
      (scorer, individuals, bodyparts, coords) for multi-animal ones; coords are
      ``x``, ``y``, ``likelihood``.  With several individuals, the one whose pupil
      landmarks pass the likelihood threshold most often is used (meta ``individual``).
    * DLC ``*_full.pickle``: ``{"metadata": {"all_joints_names": [...], ...},
      "frame0000": {"coordinates": ([array (n_det, 2) per body part],),
      "confidence": [array (n_det, 1) per body part], ...}, ...}``; with several
      detections of a body part the most confident is used.

    Both formats unpickle (pandas' table format pickles its attributes), so both ask
    :func:`datakit.safety.require_pickle_allowed` first; safe mode refuses them.

Diameter
    Landmarks are the body parts named ``Pupil<n>`` (case-insensitive), sorted
    naturally (Pupil2 before Pupil10).  Landmark pairs that span the pupil are decided
    by geometry on the file itself: for n landmarks going round the pupil the opposite
    pairs are (i, i + n/2), i.e. (1,5), (2,6), (3,7), (4,8); for the layout the earlier
    implementation assumed (Pupil1 opposite Pupil2, ...) they are (1,2), (3,4), ...
    The pairing whose pair midpoints coincide best (they all sit on the pupil centre
    when the pairs are diameters) is used and recorded in meta (``pairing``,
    ``landmark_pairs``, ``pairing_scores``).  A pair counts in a frame only when both
    likelihoods are >= ``settings.dlc_likelihood_threshold``; the diameter is the mean
    of the valid pair distances / ``settings.dlc_pixels_per_mm``.  As in the earlier
    implementation, frames without a valid pair are filled by linear interpolation
    between the measured frames around them (after the last measured frame: its value;
    before the first: NaN); ``pupil_diameter_measured`` is True for the frames that were
    measured and ``n_valid_pairs`` says how many pairs counted.

Frames are put in frame-number order (the table index; ``resorted``); rows without a
frame number (``n_dropped_nan_time``) or repeating one (``n_dropped_duplicate_time``)
are dropped.  A coordinate column holding text is read value by value (text -> NaN).

Timing: ``camera_clock.frame_times`` with the pupil camera role: dataqueue rows (frame
numbers matched to ImageNumber payloads), else the ``pupil_metadata`` sidecar, else the
camera's span in ``timestamps.csv``, else ``settings.pupil_camera_rate_hz``.

Features: ``pupil_diameter_mm``, ``pupil_diameter_measured``, ``n_valid_pairs``,
``<bodypart>_x``/``_y``/``_likelihood`` per body part, ``frame``, ``time_elapsed_s``.
Meta keeps the earlier keys: ``confidence_threshold``, ``pixel_to_mm`` (pixels per mm),
``landmark_pairs`` (index pairs into the natural-order ``Pupil<n>`` landmarks),
``class_name``, ``n_frames`` and the timing keys.
"""
from __future__ import annotations

import pickle
import re

import numpy as np
import pandas as pd

from .. import timeline
from ..safety import require_pickle_allowed
from . import camera_clock
from .base import TIMESERIES, DataSource
from .readers import check_file
from .registry import register_builtin
from .signals import Signal

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str):
    """Sort key: 'Pupil2' < 'Pupil10'."""
    return [int(p) if p.isdigit() else p.lower() for p in _DIGITS.split(str(name))]


class Landmarks:
    """x, y, likelihood arrays (frames x body parts) and the body part names."""

    def __init__(self, names, x, y, likelihood, frames, info):
        self.names = list(names)
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.likelihood = np.asarray(likelihood, dtype=np.float64)
        self.frames = np.asarray(frames, dtype=np.float64)
        self.info = info


# ---------------------------------------------------------------------------------
# readers


def read_dlc_hdf(path, threshold: float = 0.7) -> Landmarks:
    """Read a DLC HDF5 table; ``threshold`` picks the individual in multi-animal files."""
    try:
        with pd.HDFStore(path, mode="r") as store:
            keys = store.keys()
            if not keys:
                raise ValueError(f"{path}: HDF5 file holds no pandas table")
            key = "/df_with_missing" if "/df_with_missing" in keys else keys[0]
            table = store[key]
    except (ValueError, FileNotFoundError):
        raise
    except ImportError as exc:
        raise ImportError(f"{path}: reading DeepLabCut HDF5 needs PyTables ({exc})") from None
    except Exception as exc:  # HDF5ExtError, OSError, UnpicklingError...
        text = str(exc)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        hint = " (file looks truncated)" if "truncated" in text else ""
        raise ValueError(f"{path}: not a readable DeepLabCut HDF5 file{hint} "
                         f"({type(exc).__name__}: {lines[-1] if lines else exc})") from None
    if not isinstance(table, pd.DataFrame) or not isinstance(table.columns, pd.MultiIndex):
        raise ValueError(f"{path}: not a DeepLabCut table (expected MultiIndex columns "
                         "scorer/bodyparts/coords)")
    cols = table.columns
    nlev = cols.nlevels
    if nlev not in (3, 4):
        raise ValueError(f"{path}: DeepLabCut table has {nlev} column levels "
                         "(expected 3: scorer, bodyparts, coords or 4 with individuals)")
    coords = cols.get_level_values(nlev - 1).astype(str)
    parts = cols.get_level_values(nlev - 2).astype(str)
    scorer = str(cols.get_level_values(0)[0])
    individuals = cols.get_level_values(1).astype(str) if nlev == 4 else None
    values = _numeric_values(table)
    info = {"format": "hdf5_multi_animal" if nlev == 4 else "hdf5_single_animal",
            "hdf_key": key, "scorer": scorer}

    def gather(select):
        names = sorted({p for p, s in zip(parts, select) if s}, key=natural_key)
        out = {}
        for coord in ("x", "y", "likelihood"):
            arr = np.full((len(table), len(names)), np.nan)
            for j, name in enumerate(names):
                hit = np.flatnonzero(select & (parts == name) & (coords == coord))
                if hit.size:
                    arr[:, j] = values[:, hit[0]]
            out[coord] = arr
        return names, out

    if individuals is None:
        names, arrays = gather(np.ones(len(cols), dtype=bool))
    else:
        best, best_score, names, arrays = None, -1, [], {}
        for ind in pd.unique(individuals):
            cand_names, cand = gather(individuals == ind)
            pupil = [j for j, n in enumerate(cand_names) if _is_pupil(n)]
            score = int((cand["likelihood"][:, pupil] >= threshold).sum()) if pupil else -1
            if score > best_score:
                best, best_score, names, arrays = ind, score, cand_names, cand
        info["individual"] = str(best)
        info["individuals"] = [str(i) for i in pd.unique(individuals)]
    index = pd.to_numeric(pd.Series(table.index), errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(index).any():   # not frame numbers (e.g. text labels): file order
        index = np.arange(len(table), dtype=np.float64)
        info["frames_from"] = "row order (the table index holds no frame numbers)"
    return Landmarks(names, arrays["x"], arrays["y"], arrays["likelihood"], index, info)


def _numeric_values(table: pd.DataFrame) -> np.ndarray:
    """The table as float64; a column holding text is read number by number (text -> NaN)."""
    try:
        return table.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        return np.column_stack([
            pd.to_numeric(table.iloc[:, j], errors="coerce").to_numpy(dtype=np.float64)
            for j in range(table.shape[1])]) if table.shape[1] else np.empty((len(table), 0))


def read_dlc_pickle(path) -> Landmarks:
    data = check_file(path).read_bytes()
    try:
        obj = pickle.loads(data)
    except Exception as exc:  # EOFError, UnpicklingError, AttributeError...
        raise ValueError(f"{path}: not a readable DeepLabCut pickle (truncated or corrupt: "
                         f"{type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a DeepLabCut _full.pickle dict, got {type(obj).__name__}")
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    keys = [k for k in obj if isinstance(k, str) and k.startswith("frame")
            and k[5:].isdigit() and isinstance(obj[k], dict)]
    if not keys:
        raise ValueError(f"{path}: DeepLabCut pickle has no 'frame<N>' entries "
                         f"(keys: {list(obj)[:6]})")
    numbers = np.array([int(k[5:]) for k in keys], dtype=np.int64)
    order = np.argsort(numbers, kind="stable")
    keys = [keys[i] for i in order]
    numbers = numbers[order]
    try:
        coords = [obj[k]["coordinates"][0] for k in keys]
        confs = [obj[k]["confidence"] for k in keys]
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"{path}: DeepLabCut frame entries lack coordinates/confidence "
                         f"({type(exc).__name__}: {exc})") from None
    n_parts = len(coords[0])
    names = metadata.get("all_joints_names")
    if not isinstance(names, (list, tuple)) or len(names) != n_parts:
        names = [f"Pupil{i + 1}" for i in range(n_parts)]
        named_by = "position (metadata has no all_joints_names)"
    else:
        names = [str(n) for n in names]
        named_by = "metadata.all_joints_names"
    x, y, lik = _best_detections(coords, confs, len(keys), n_parts, path)
    order = sorted(range(n_parts), key=lambda j: natural_key(names[j]))
    info = {"format": "full_pickle", "bodyparts_named_by": named_by,
            "scorer": metadata.get("Scorer") if isinstance(metadata.get("Scorer"), str) else None}
    return Landmarks([names[j] for j in order], x[:, order], y[:, order], lik[:, order],
                     numbers, info)


def _best_detections(coords, confs, n_frames, n_parts, path):
    """Most confident detection of each body part in each frame (NaN when none)."""
    try:  # common case: exactly one detection per body part -> one array conversion
        xy = np.asarray(coords, dtype=np.float64).reshape(n_frames, n_parts, -1, 2)
        cf = np.asarray(confs, dtype=np.float64).reshape(n_frames, n_parts, -1)
        if cf.shape[2] == xy.shape[2] and xy.shape[2] > 0:
            pick = np.argmax(np.where(np.isnan(cf), -np.inf, cf), axis=2)
            take = pick[..., None]
            lik = np.take_along_axis(cf, take, axis=2)[..., 0]
            x = np.take_along_axis(xy[..., 0], take, axis=2)[..., 0]
            y = np.take_along_axis(xy[..., 1], take, axis=2)[..., 0]
            return x, y, lik
    except (ValueError, TypeError):
        pass
    # ragged: a varying number of detections per frame and body part
    x = np.full((n_frames, n_parts), np.nan)
    y = np.full((n_frames, n_parts), np.nan)
    lik = np.full((n_frames, n_parts), np.nan)
    try:
        for j in range(n_parts):
            pts = [np.asarray(c[j], dtype=np.float64).reshape(-1, 2) for c in coords]
            cfs = [np.asarray(c[j], dtype=np.float64).reshape(-1) for c in confs]
            counts = np.array([p.shape[0] for p in pts])
            if not counts.sum():
                continue
            flat_xy = np.concatenate(pts)
            flat_cf = np.concatenate(cfs)
            owner = np.repeat(np.arange(n_frames), counts)
            score = np.where(np.isnan(flat_cf), -np.inf, flat_cf)
            order = np.lexsort((-score, owner))  # by frame, most confident first
            first = order[np.concatenate(([True], owner[order][1:] != owner[order][:-1]))]
            x[owner[first], j] = flat_xy[first, 0]
            y[owner[first], j] = flat_xy[first, 1]
            lik[owner[first], j] = flat_cf[first]
    except (ValueError, TypeError, IndexError) as exc:
        raise ValueError(f"{path}: unexpected DeepLabCut coordinate layout "
                         f"({type(exc).__name__}: {exc})") from None
    return x, y, lik


# ---------------------------------------------------------------------------------
# diameter


def _is_pupil(name: str) -> bool:
    return bool(re.fullmatch(r"pupil[_ ]?\d+", str(name).strip().lower()))


def pairings(n: int) -> dict[str, list[tuple[int, int]]]:
    """Candidate landmark pairings for ``n`` landmarks (indices in natural order)."""
    if n < 2:
        return {}
    half = n // 2
    out = {"opposite": [(i, i + half) for i in range(half)]}
    if n >= 4:
        out["consecutive"] = [(2 * i, 2 * i + 1) for i in range(half)]
    return out


def choose_pairing(x, y, valid) -> tuple[str, list[tuple[int, int]], dict]:
    """The pairing whose pair midpoints coincide best (pairs that are diameters).

    Score per frame: spread of the valid pairs' midpoints / their mean length; the
    pairing with the lowest median score wins.  Without any frame with two valid pairs
    the default is ``opposite`` (landmarks going round the pupil).
    """
    candidates = pairings(x.shape[1])
    scores = {}
    for name, pairs in candidates.items():
        a = np.array([p[0] for p in pairs])
        b = np.array([p[1] for p in pairs])
        ok = valid[:, a] & valid[:, b]
        mx = np.where(ok, (x[:, a] + x[:, b]) / 2, np.nan)
        my = np.where(ok, (y[:, a] + y[:, b]) / 2, np.nan)
        length = np.where(ok, np.hypot(x[:, a] - x[:, b], y[:, a] - y[:, b]), np.nan)
        enough = ok.sum(axis=1) >= 2
        if not enough.any():
            continue
        with np.errstate(all="ignore"):
            cx = np.nanmean(mx[enough], axis=1, keepdims=True)
            cy = np.nanmean(my[enough], axis=1, keepdims=True)
            spread = np.sqrt(np.nanmean((mx[enough] - cx) ** 2 + (my[enough] - cy) ** 2, axis=1))
            ratio = spread / np.nanmean(length[enough], axis=1)
        ratio = ratio[np.isfinite(ratio)]
        if ratio.size:
            scores[name] = float(np.median(ratio))
    if not candidates:
        return "none", [], {}
    if not scores:
        return "opposite", candidates["opposite"], {"pairing_decided_by": "default (no frame with 2 valid pairs)"}
    best = min(scores, key=scores.get)
    return best, candidates[best], {"pairing_decided_by": "geometry", "pairing_scores": scores}


def interpolate_gaps(values: np.ndarray) -> np.ndarray:
    """NaN gaps filled like pandas ``Series.interpolate()`` (linear by position): inside
    the measured span by interpolation, after it with the last value, before it NaN."""
    out = np.asarray(values, dtype=np.float64).copy()
    ok = np.isfinite(out)
    if ok.sum() == 0 or ok.all():
        return out
    pos = np.arange(out.size, dtype=np.float64)
    first = int(np.argmax(ok))
    fill = ~ok & (pos > first)
    out[fill] = np.interp(pos[fill], pos[ok], out[ok])  # beyond the last: its value
    return out


def pupil_diameter(marks: Landmarks, threshold: float, px_per_mm: float):
    """(diameter_mm, n_valid_pairs, meta) from the ``Pupil<n>`` landmarks."""
    idx = [j for j, n in enumerate(marks.names) if _is_pupil(n)]
    names = [marks.names[j] for j in idx]
    x, y = marks.x[:, idx], marks.y[:, idx]
    lik = np.nan_to_num(marks.likelihood[:, idx], nan=0.0)
    valid = (lik >= threshold) & np.isfinite(x) & np.isfinite(y)
    pairing, pairs, info = choose_pairing(x, y, valid)
    n = x.shape[0]
    if not pairs:
        return np.full(n, np.nan), np.zeros(n, dtype=np.int64), {
            "pairing": pairing, "landmarks": names, "landmark_pairs": (),
            "landmark_pair_names": [], **info}
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    ok = valid[:, a] & valid[:, b]
    dist = np.hypot(x[:, a] - x[:, b], y[:, a] - y[:, b])
    count = ok.sum(axis=1)
    with np.errstate(all="ignore"):
        mean_px = np.where(count > 0, np.where(ok, dist, 0.0).sum(axis=1) / count, np.nan)
    return mean_px / px_per_mm, count.astype(np.int64), {
        "pairing": pairing, "landmarks": names,
        "landmark_pairs": tuple((int(i), int(j)) for i, j in pairs),
        "landmark_pair_names": [(names[i], names[j]) for i, j in pairs], **info}


# ---------------------------------------------------------------------------------


@register_builtin
class PupilDlcSource(DataSource):
    tag = "pupil_dlc"
    meta_keys = (
        "alignment", "bodyparts", "bodyparts_named_by", "class_name", "confidence_threshold",
        "dataqueue_alignment", "dataqueue_anchors", "dataqueue_device", "dataqueue_file",
        "format", "hdf_key", "individual", "individuals", "landmark_pair_names",
        "landmark_pairs", "landmarks", "n_dropped_duplicate_time", "n_dropped_nan_time",
        "n_frames", "n_frames_interpolated", "n_frames_matched", "n_frames_measured",
        "n_frames_without_diameter", "pairing", "pairing_decided_by", "pairing_scores",
        "pixel_to_mm", "pupil_metadata_alignment", "pupil_metadata_file",
        "pupil_metadata_frames", "rate_hz", "resorted", "scorer", "source_file", "time_basis",
    )
    patterns = ("*_pupilDLC_*.h5", "*_pupilDLC_*.hdf5", "*_pupil.omeDLC_*.h5",
                "*_pupil.omeDLC_*.hdf5", "*_pupilDLC_*_full.pickle",
                "*_pupil.omeDLC_*_full.pickle")
    requires = ("dataqueue", "pupil_metadata", "timestamps")
    kind = TIMESERIES
    camera_tag = "pupil"
    description = "Pupil diameter (mm) from DeepLabCut landmarks, on the pupil camera's frame times"
    signals = (Signal("pupil_diameter_mm", "diameter", "mm"),)

    def load(self, path, *, context=None):
        context = self.context_or_default(path, context)
        settings = context.settings
        check_file(path)
        require_pickle_allowed(path, "DeepLabCut output", settings.allow_pickle)
        if str(path).endswith(".pickle"):
            marks = read_dlc_pickle(path)
        else:
            marks = read_dlc_hdf(path, settings.dlc_likelihood_threshold)
        if marks.x.shape[0] == 0:
            raise ValueError(f"{path}: DeepLabCut output has no frames")
        # frames in frame-number order; rows without a number or repeating one are dropped
        keep, frame_order = timeline.monotonic_index(marks.frames)
        if frame_order:
            marks = Landmarks(marks.names, marks.x[keep], marks.y[keep], marks.likelihood[keep],
                              marks.frames[keep], marks.info)
        if marks.x.shape[0] == 0:
            raise ValueError(f"{path}: no DeepLabCut row has a frame number")
        diameter, n_valid, info = pupil_diameter(
            marks, settings.dlc_likelihood_threshold, settings.dlc_pixels_per_mm)
        if not info["landmarks"]:
            raise ValueError(f"{path}: no Pupil<n> landmarks among body parts {marks.names[:12]}")
        measured = np.isfinite(diameter)
        columns = {"frame": marks.frames, "pupil_diameter_mm": interpolate_gaps(diameter),
                   "pupil_diameter_measured": measured, "n_valid_pairs": n_valid}
        for j, name in enumerate(marks.names):
            columns[f"{name}_x"] = marks.x[:, j]
            columns[f"{name}_y"] = marks.y[:, j]
            columns[f"{name}_likelihood"] = marks.likelihood[:, j]
        value = pd.DataFrame(columns)
        t, clock = camera_clock.frame_times(
            context, "pupil_camera", marks.frames, sidecar_tag="pupil_metadata",
            assumed_rate_hz=settings.pupil_camera_rate_hz)
        t, value, order_info = timeline.take_monotonic(t, value)
        meta = {
            "source_file": str(path),
            **marks.info,
            **clock,
            **timeline.merge_order_info(frame_order, order_info),
            "n_frames": int(len(value)),
            "class_name": type(self).__name__,
            "bodyparts": marks.names,
            "confidence_threshold": float(settings.dlc_likelihood_threshold),
            "pixel_to_mm": float(settings.dlc_pixels_per_mm),
            "n_frames_measured": int(value["pupil_diameter_measured"].sum()),
            "n_frames_interpolated": int((~value["pupil_diameter_measured"]
                                          & value["pupil_diameter_mm"].notna()).sum()),
            "n_frames_without_diameter": int(np.isnan(value["pupil_diameter_mm"]).sum()),
            **info,
        }
        value["time_elapsed_s"] = t  # in the value too, as before
        return self.stream(t, value, meta)
