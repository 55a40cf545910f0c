"""``psychopy``: PsychoPy trial-loop CSVs (gratings, movies, other designs), one interval per trial.

Reading
    One row per trial: the rows where the trial-loop counter (``trials.thisN``, else the
    ``<loop>.thisN`` column filled on most rows) is set.  Rows outside the loop (the
    "press a key to start" routine, end-of-block rows of an outer loop) are not trials.
    Columns that are empty on every trial row (PsychoPy's trailing comma, routines that
    ran outside the loop) are dropped; every other column is kept, one entry per trial.

Design
    From the cell's task and the file name (``gratings``/``movies``), else from the
    columns.  The stimulus component gives each trial's interval:

    * gratings: ``stim_grating.started`` -> ``stim_grating.stopped``;
    * movies: the movie component (``stim_movie``/``movie``...) ``.started`` -> ``.stopped``;
    * any other design with a loop counter and ``*.started`` columns: the trial's span,
      earliest ``.started`` -> latest ``.stopped`` of its row.

    When a stop is missing (in real files ``display_gratings.stopped`` is only filled
    once per block, and component stops can be blank) the trial is kept and its stop is
    the next onset of the gray screen or the next ``.stopped`` event after its onset,
    whichever comes first (``next_gray_onset``/``next_stop_event``), else the next event
    of any kind (``next_event``), else NaN (``missing``); feature ``stop_source`` says
    which, per trial.  A trial without a stimulus onset starts at its row's earliest
    ``.started`` (``start_source``); a trial with no time at all is dropped (counted).

Clock
    PsychoPy times are seconds since ``expStart`` (``2025-07-06 16h12.03.123456 -0700``;
    the UTC offset is dropped, the lab's wall clocks are naive local time).  The first
    nidaq pulse of the dataqueue (``settings.devices.nidaq``) has a wall time
    (``device_ts``, else ``packet_ts``) and a master-clock time; it anchors PsychoPy's
    wall clock to the master clock::

        t_master = t_psychopy + (expStart - pulse_wall) + pulse_master

    A dataqueue without nidaq pulses (or without a wall time for the first one):
    ``expStart`` goes on the master clock through the dataqueue's wall-clock fit
    (``alignment="expStart_wall_clock"``, ``note_dataqueue`` says why).  Without a
    dataqueue: ``expStart`` wall clock onto :func:`datakit.timeline.session_wall_map`
    (``timestamps.csv``), else zero at ``expStart`` (``time_basis="psychopy_expstart"``).
    A missing/unreadable ``expStart`` when an anchor exists is a ValueError.

    Trials are sorted by start (``resorted``); a trial without any time is dropped
    (``n_dropped_nan_time``), a repeated start (a row written twice) too
    (``n_dropped_duplicate_time``).

Features, named as the earlier implementation named them: every kept column prefixed
with the task branch (``gratings_``, ``movies_``, ``raw_`` for other designs), e.g.
``gratings_stim_grating.started`` (``.started``/``.stopped``/``thisRow.t`` converted to
the stream's clock; ``.rt`` and durations untouched); for gratings also
``gratings_window_grating_start``/``_stop`` (the trial's grating interval),
``gratings_window_gray_start``/``_stop`` (gray screen onset to grating onset) and the
lists of valid ``(start, stop)`` windows ``gratings_gratings_windows`` and
``gratings_gray_windows`` (repeated on every trial, as before); then ``start_s``,
``stop_s``, ``duration_s``, ``start_source``, ``stop_source`` and ``time_elapsed_s``
(= start).  Meta keeps the earlier keys (``task_inferred``, ``task_branch``,
``row_time_column``, ``row_time_extended_to``, ``key_resp_rt``, ``key_resp_column``,
``exp_start``, ``exp_start_offset_s`` = first nidaq pulse wall time - expStart,
``exp_start_keypress_offset_s`` = that - ``key_resp_rt``, ``start_offset_s`` (the
same), ``dataqueue_file``, ``dataqueue_pulses``, ``dataqueue_queue_start``,
``abs_start_time``, ``alignment_method``).
"""
from __future__ import annotations

from dataclasses import dataclass

import datetime as _dt
import re

import numpy as np
import pandas as pd

from .. import timeline
from .base import INTERVALS, DataSource
from .readers import read_csv
from .registry import register_builtin
from .signals import Signal

PSYCHOPY_EXPSTART = "psychopy_expstart"
GRATINGS, MOVIES, GENERIC = "gratings", "movies", "generic"
#: the earlier implementation's task branch (the feature prefix) of each design
BRANCH = {GRATINGS: "gratings", MOVIES: "movies", GENERIC: "raw"}
_KEY_RESP_RT = re.compile(r"key_resp.*\.rt$")
_TIME_LIKE = (".started", ".stopped", ".rt", ".t")

_EXP_START = re.compile(
    r"^\s*(?P<date>\d{4}-\d{2}-\d{2})[ _T](?P<h>\d{1,2})h(?P<m>\d{2})[.:](?P<s>\d{2})"
    r"(?:[.,](?P<frac>\d{1,9}))?\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?\s*$")
_TIME_SUFFIXES = (".started", ".stopped")
_EXTRA_TIME_COLUMNS = ("thisRow.t",)
_GAP_WORDS = ("gray", "grey", "blank")


def parse_exp_start(text) -> pd.Timestamp | None:
    """PsychoPy's ``expStart`` (or an ISO time) as a naive local Timestamp; None if unreadable."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    text = str(text).strip()
    match = _EXP_START.match(text)
    if match:
        frac = (match.group("frac") or "0")[:6].ljust(6, "0")
        text = (f"{match.group('date')} {int(match.group('h')):02d}:{match.group('m')}:"
                f"{match.group('s')}.{frac}")
        stamp = pd.to_datetime(text, format=timeline.WALL_FORMAT, errors="coerce")
    else:
        stamp = pd.to_datetime(text, errors="coerce", format="ISO8601")
    if stamp is None or pd.isna(stamp):
        return None
    stamp = pd.Timestamp(stamp)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)  # keep the local wall time, drop the offset
    return stamp


def exp_start_text(text) -> str | None:
    """``expStart`` as ISO text keeping its UTC offset when it has one (earlier meta)."""
    stamp = parse_exp_start(text)
    if stamp is None:
        return None
    match = _EXP_START.match(str(text).strip())
    if match is None:  # an ISO time: pandas keeps its offset
        parsed = pd.to_datetime(str(text).strip(), errors="coerce", format="ISO8601")
        return pd.Timestamp(parsed).isoformat() if pd.notna(parsed) else stamp.isoformat()
    tz = match.group("tz")
    if not tz:
        return stamp.isoformat()
    if tz == "Z":
        return stamp.tz_localize("UTC").isoformat()
    digits = tz[1:].replace(":", "")
    offset = pd.Timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return stamp.tz_localize(_dt.timezone(offset if tz[0] == "+" else -offset)).isoformat()


def row_time_info(frame: pd.DataFrame, times: np.ndarray, col: dict) -> dict:
    """The earlier implementation's row-time column (the first ``display_*.started`` with
    at least 2 numbers) and the latest time it was extended to (any ``.started``,
    ``.stopped``, ``.rt`` or ``.t`` column); ``times``/``col``: the parsed time columns."""
    for name, j in col.items():
        if name.startswith("display_") and name.endswith(".started") \
                and np.isfinite(times[:, j]).sum() >= 2:
            extra = [c for c in frame.columns if str(c).endswith((".rt", ".t")) and c not in col]
            values = np.concatenate([times.ravel(), _numeric(frame, extra).ravel()])
            top = np.max(np.where(np.isfinite(values), values, -np.inf), initial=-np.inf)
            return {"row_time_column": name,
                    "row_time_extended_to": float(top) if np.isfinite(top) else None}
    return {"row_time_column": None, "row_time_extended_to": None}


def key_response(frame: pd.DataFrame) -> tuple[float | None, str | None]:
    """The first non-empty ``key_resp*.rt`` value and its column (earlier meta)."""
    for column in frame.columns:
        if _KEY_RESP_RT.match(str(column)):
            values = pd.to_numeric(frame[column], errors="coerce").dropna()
            if len(values):
                return float(values.iloc[0]), str(column)
    return None, None


def loop_counter(frame: pd.DataFrame) -> str | None:
    """The trial-loop counter: ``trials.thisN``, else the ``<loop>.thisN`` filled on most rows.

    With nested loops the inner (trial) loop's counter is set on more rows than the
    outer (block) loop's, which also marks the end-of-block rows.
    """
    counters = [c for c in frame.columns if str(c).endswith(".thisN")]
    if "trials.thisN" in counters:
        return "trials.thisN"
    if not counters:
        return None
    filled = [int(frame[c].notna().sum()) for c in counters]
    return counters[int(np.argmax(filled))]


def _components(columns) -> list[str]:
    return [c[: -len(".started")] for c in columns if c.endswith(".started")]


def _stimulus_component(design: str, components: list[str]) -> str | None:
    word = {GRATINGS: "grating", MOVIES: "movie"}.get(design)
    if word is None:
        return None
    exact = {GRATINGS: ("stim_grating", "grating"), MOVIES: ("stim_movie", "movie")}[design]
    for name in exact:
        if name in components:
            return name
    lowered = [(c, c.lower()) for c in components]
    for c, low in lowered:  # a component, not the routine that holds it
        if word in low and not low.startswith(("display", "routine", "trial")):
            return c
    return None


def _gap_component(components: list[str]) -> str | None:
    if "stim_grayScreen" in components:
        return "stim_grayScreen"
    for c in components:
        if any(w in c.lower() for w in _GAP_WORDS):
            return c
    return None


def _design_from_text(text: str) -> str | None:
    text = text.lower()
    if "grating" in text:
        return GRATINGS
    if "movie" in text:
        return MOVIES
    return None


def _numeric(frame: pd.DataFrame, columns) -> np.ndarray:
    if not columns:
        return np.empty((len(frame), 0))
    return np.column_stack([
        pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64) for c in columns])


def _window_list(starts: np.ndarray, stops: np.ndarray) -> list[tuple[float, float]]:
    """Valid ``(start, stop)`` pairs (finite, stop after start), as the earlier lists."""
    ok = np.isfinite(starts) & np.isfinite(stops) & (stops > starts)
    return list(zip(starts[ok].tolist(), stops[ok].tolist()))


def _next_after(values: np.ndarray, rows: np.ndarray, after: np.ndarray) -> np.ndarray:
    """For each trial: the earliest value > ``after`` in its own row or any later row.

    ``values`` is (file rows x columns), ``rows`` the trials' file rows.  Later rows are
    summarised by a suffix minimum (PsychoPy writes rows in time order).
    """
    filled = np.where(np.isnan(values), np.inf, values)
    own = np.where(filled[rows] > after[:, None], filled[rows], np.inf).min(axis=1, initial=np.inf)
    row_min = filled.min(axis=1, initial=np.inf)
    suffix = np.minimum.accumulate(row_min[::-1])[::-1]
    later = np.append(suffix[1:], np.inf)[rows]
    later = np.where(later > after, later, np.inf)
    out = np.minimum(own, later)
    out[~np.isfinite(out)] = np.nan
    return out


class _Times:
    """The CSV's time columns as one float array (rows x columns), ``col`` by name."""

    def __init__(self, frame: pd.DataFrame):
        self.columns = [c for c in frame.columns
                        if c.endswith(_TIME_SUFFIXES) or c in _EXTRA_TIME_COLUMNS]
        self.values = _numeric(frame, self.columns)
        self.col = {c: i for i, c in enumerate(self.columns)}
        self.started = self.values[:, [self.col[c] for c in self.columns if c.endswith(".started")]]
        self.stopped = self.values[:, [self.col[c] for c in self.columns if c.endswith(".stopped")]]

    def column(self, name: str, rows) -> np.ndarray:
        return self.values[rows, self.col[name]]


def _onsets(times: _Times, trial_rows, stim) -> tuple[np.ndarray, np.ndarray]:
    """Each trial's start: the stimulus onset, else its row's earliest ``.started``."""
    with np.errstate(all="ignore"):
        row_first_start = np.where(np.isnan(times.started), np.inf, times.started).min(axis=1)
    row_first_start[~np.isfinite(row_first_start)] = np.nan
    start = times.column(f"{stim}.started", trial_rows) if stim is not None \
        else row_first_start[trial_rows]
    source = np.where(np.isfinite(start), "onset", "row_first_started").astype(object)
    return np.where(np.isfinite(start), start, row_first_start[trial_rows]), source


def _offsets(times: _Times, trial_rows, start, stim, gap) -> tuple[np.ndarray, np.ndarray]:
    """Each trial's stop: the stimulus ``.stopped``, else the next gray onset or stop
    event, else the next event of any kind (see the module doc)."""
    stop = np.full(trial_rows.size, np.nan)
    if stim is not None and f"{stim}.stopped" in times.col:
        stop = times.column(f"{stim}.stopped", trial_rows)
    elif stim is None and times.stopped.shape[1]:
        with np.errstate(all="ignore"):
            last = np.where(np.isnan(times.stopped), -np.inf, times.stopped).max(axis=1)[trial_rows]
        stop = np.where(np.isfinite(last), last, np.nan)
    stop = np.where(stop > start, stop, np.nan)
    source = np.where(np.isfinite(stop), "stopped", "missing").astype(object)
    need = ~np.isfinite(stop) & np.isfinite(start)
    if need.any():
        rows_n, start_n = trial_rows[need], start[need]
        next_stop = _next_after(times.stopped, rows_n, start_n)
        next_gap = (_next_after(times.values[:, [times.col[f"{gap}.started"]]], rows_n, start_n)
                    if gap is not None else np.full(rows_n.size, np.nan))
        use_gap = np.isfinite(next_gap) & ~(next_stop < next_gap)
        cand = np.where(use_gap, next_gap, next_stop)
        label = np.where(use_gap, "next_gray_onset", "next_stop_event").astype(object)
        anything = _next_after(times.values, rows_n, start_n)
        label = np.where(np.isfinite(cand), label,
                         np.where(np.isfinite(anything), "next_event", "missing"))
        cand = np.where(np.isfinite(cand), cand, anything)
        stop[need], source[need] = cand, label
    return stop, source


def _trial_table(frame, trial_rows, times: _Times, offset, design, gap, start, stop,
                 meta) -> pd.DataFrame:
    """One row per trial: the kept columns (times on the stream's clock) prefixed with
    the branch, then start_s, stop_s and duration_s."""
    trials = frame.iloc[trial_rows].reset_index(drop=True)
    empty = [c for c in trials.columns if trials[c].isna().all()]
    trials = trials.drop(columns=empty)
    if empty:
        meta["n_empty_columns_dropped"] = len(empty)
    for c in times.columns:
        if c in trials.columns:
            trials[c] = times.column(c, trial_rows) + offset
    if design == GRATINGS:
        gray_on = (times.column(f"{gap}.started", trial_rows) + offset
                   if gap is not None else np.full(trial_rows.size, np.nan))
        trials["window_grating_start"] = start + offset
        trials["window_grating_stop"] = stop + offset
        trials["window_gray_start"] = gray_on
        trials["window_gray_stop"] = start + offset
    branch = BRANCH[design]
    trials.columns = [f"{branch}_{c}" for c in trials.columns]
    trials["start_s"] = start + offset
    trials["stop_s"] = stop + offset
    trials["duration_s"] = stop - start
    return trials


def _add_window_lists(trials: pd.DataFrame, branch: str) -> None:
    """The earlier lists of valid windows, repeated on every trial row."""
    for name, (a, b) in (("gratings_windows", ("window_grating_start", "window_grating_stop")),
                         ("gray_windows", ("window_gray_start", "window_gray_stop"))):
        windows = _window_list(trials[f"{branch}_{a}"].to_numpy(), trials[f"{branch}_{b}"].to_numpy())
        column = np.empty(len(trials), dtype=object)
        column[:] = [windows] * len(trials)
        trials.insert(trials.columns.get_loc("start_s"), f"{branch}_{name}", column)


def _summary(frame: pd.DataFrame, trials: pd.DataFrame, basis: str) -> dict:
    sources = trials["stop_source"].value_counts()
    out = {"time_basis": basis, "n_trials": int(len(trials)),
           "stop_sources": {str(k): int(v) for k, v in sources.items()},
           "n_trials_without_stop": int(trials["stop_s"].isna().sum())}
    for key in ("expName", "psychopyVersion", "participant", "frameRate"):
        if key in frame.columns and frame[key].notna().any():
            value = frame[key].dropna().iloc[0]
            out[key] = value.item() if isinstance(value, np.generic) else value
    return out


@dataclass(frozen=True)
class _Anchor:
    """The first nidaq pulse that ties PsychoPy's wall clock to the master clock, or,
    when there is none, why (``problem``)."""

    row: int = -1
    wall: object = None
    column: str | None = None
    problem: str | None = None


@register_builtin
class PsychopySource(DataSource):
    tag = "psychopy"
    meta_keys = (
        "abs_start_time", "alignment", "alignment_method", "anchor_device_id",
        "anchor_master_s", "anchor_wall_column", "counter_column", "dataqueue_file",
        "dataqueue_pulses", "dataqueue_queue_start", "expName", "exp_start",
        "exp_start_keypress_offset_s", "exp_start_offset_s", "frameRate", "gap_component",
        "key_resp_column", "key_resp_rt", "n_dropped_duplicate_time", "n_dropped_nan_time",
        "n_dropped_truncated_rows", "n_empty_columns_dropped", "n_rows", "n_trials",
        "n_trials_without_stop", "note_dataqueue", "participant", "psychopyVersion",
        "psychopy_to_master_offset_s", "resorted", "row_time_column", "row_time_extended_to",
        "source_file", "start_offset_s", "stimulus_component", "stop_sources", "task_branch",
        "task_branch_from", "task_inferred", "time_basis", "truncation_note",
    )
    patterns = ("*_psychopy.csv",)
    requires = ("dataqueue", "timestamps")
    kind = INTERVALS
    description = "PsychoPy trials (stimulus onset to offset, one interval per trial) on the master clock"
    signals = (Signal("start_s", "trials"),)              # the trials as spans

    def load(self, path, *, context=None):
        context = self.context_or_default(path, context)
        frame, counter, components, meta = self._read(path)
        design, stim, gap, reason = self._design(path, context, components)
        key_rt, key_column = key_response(frame)
        meta.update({"task_inferred": f"task-{design}" if design != GENERIC else None,
                     "task_branch": BRANCH[design], "task_branch_from": reason,
                     "stimulus_component": stim, "gap_component": gap,
                     "key_resp_rt": key_rt, "key_resp_column": key_column})
        trial_rows = np.flatnonzero(frame[counter].notna().to_numpy())
        if trial_rows.size == 0:
            raise ValueError(f"{path}: no trial rows (column {counter!r} is empty on every row)")
        times = _Times(frame)
        meta.update(row_time_info(frame, times.values, times.col))
        start, start_source = _onsets(times, trial_rows, stim)
        stop, stop_source = _offsets(times, trial_rows, start, stim, gap)
        offset, basis, clock_meta = self._clock(path, context, frame, key_rt)
        meta.update(clock_meta)
        trials = _trial_table(frame, trial_rows, times, offset, design, gap, start, stop, meta)
        trials["start_source"] = start_source
        trials["stop_source"] = stop_source
        idx, order_info = timeline.monotonic_index(trials["start_s"].to_numpy())
        if idx.size == 0:
            raise ValueError(f"{path}: none of the {trial_rows.size} trials has a start time")
        # trials of one loop cannot start at the same instant: a repeated start is a
        # repeated row (counted as n_dropped_duplicate_time)
        trials = trials.iloc[idx].reset_index(drop=True)
        meta.update(order_info)
        if design == GRATINGS:
            _add_window_lists(trials, BRANCH[design])
        meta.update(_summary(frame, trials, basis))
        return self.stream(trials["start_s"].to_numpy(), trials, meta)

    @staticmethod
    def _read(path):
        """The CSV, its loop counter, its components, and the reading meta."""
        read_info: dict = {}
        frame = read_csv(path, low_memory=False, info=read_info)
        frame.columns = [str(c).strip() for c in frame.columns]
        columns = list(frame.columns)
        counter = loop_counter(frame)
        components = _components(columns)
        if counter is None or not components:
            raise ValueError(
                f"{path}: not a PsychoPy trial-loop CSV: needs a loop counter column (like "
                f"'trials.thisN') and '<component>.started' columns; found "
                f"{columns[:10]}")
        meta: dict = {"source_file": str(path), "counter_column": counter, "n_rows": int(len(frame)),
                      **read_info}
        return frame, counter, components, meta

    # ------------------------------------------------------------------------------

    @staticmethod
    def _design(path, context, components):
        """(design, stimulus component, gap component, what decided it).

        The task (else the file name) names the design; when that design's stimulus
        column is missing, or nothing is named, the columns decide (else generic).
        """
        text_design, reason = None, "columns"
        if context.task:
            text_design, reason = _design_from_text(str(context.task)), "task"
        if text_design is None:
            text_design, reason = _design_from_text(path.name), "file_name"
        gap = _gap_component(components)
        if text_design is not None:
            stim = _stimulus_component(text_design, components)
            if stim is not None:
                return text_design, stim, gap, reason
            reason = f"columns ({reason} says {text_design} but it has no {text_design} stimulus column)"
        else:
            reason = "columns"
        for design in (GRATINGS, MOVIES):
            stim = _stimulus_component(design, components)
            if stim is not None:
                return design, stim, gap, reason
        return GENERIC, None, gap, reason

    @staticmethod
    def _exp_start(path, frame) -> pd.Timestamp:
        if "expStart" not in frame.columns or not frame["expStart"].notna().any():
            raise ValueError(
                f"{path}: no expStart value: PsychoPy times cannot be put on the session clock "
                "(expStart is written by PsychoPy 2023.1 and later)")
        raw = frame["expStart"].dropna().iloc[0]
        stamp = parse_exp_start(raw)
        if stamp is None:
            raise ValueError(
                f"{path}: unreadable expStart {raw!r} (expected like "
                "'2025-07-06 16h12.03.123456 -0700')")
        return stamp

    @staticmethod
    def _nidaq_anchor(dq, context) -> _Anchor:
        """The first nidaq pulse with a wall time, or an _Anchor saying why there is none."""
        mask = timeline.role_mask(dq, "nidaq", context.settings)
        if not mask.any():
            return _Anchor(problem=f"the session's dataqueue has no nidaq pulses (device ids "
                                   f"containing {list(context.settings.devices.nidaq)})")
        first = int(np.argmax(mask))
        for name in ("device_ts", "packet_ts"):
            if name in dq.columns and dq[name].dtype.kind == "M" and pd.notna(dq[name].iloc[first]):
                return _Anchor(first, dq[name].iloc[first], name)
        return _Anchor(problem="the first nidaq pulse of the dataqueue has no readable wall time "
                               "(device_ts/packet_ts)")

    def _clock(self, path, context, frame, key_rt=None) -> tuple[float, str, dict]:
        """(offset added to PsychoPy seconds, time_basis, meta)."""
        dq = context.dataqueue_frame
        meta: dict = {"exp_start": None}
        if "expStart" in frame.columns and frame["expStart"].notna().any():
            meta["exp_start"] = exp_start_text(frame["expStart"].dropna().iloc[0])
        dq_meta = context.dataqueue_meta or {}
        meta.update({"dataqueue_file": dq_meta.get("source_file"), "dataqueue_pulses": None,
                     "dataqueue_queue_start": None, "abs_start_time": None})
        if dq is not None:
            nidaq = timeline.role_mask(dq, "nidaq", context.settings)
            meta["dataqueue_pulses"] = int(nidaq.sum())
            meta["dataqueue_queue_start"] = float(dq["queue_elapsed"].iloc[0]) if len(dq) else None
            if nidaq.any() and "device_ts" in dq.columns and dq["device_ts"].dtype.kind == "M":
                first = dq["device_ts"][nidaq].dropna()
                if len(first):
                    meta["abs_start_time"] = pd.Timestamp(first.iloc[0]).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        anchor = self._nidaq_anchor(dq, context) if dq is not None else None
        if anchor is not None and anchor.problem is not None:
            meta["note_dataqueue"] = anchor.problem + "; expStart put on the dataqueue's wall clock instead"
        if anchor is not None and anchor.problem is None:
            stamp = self._exp_start(path, frame)
            exp_epoch = float(timeline.wall_seconds([stamp])[0])
            first, wall, column = anchor.row, anchor.wall, anchor.column
            wall_epoch = float(timeline.wall_seconds([wall])[0])
            pulse_t = float(dq["time_elapsed_s"].iloc[first])
            offset = exp_epoch - wall_epoch + pulse_t
            exp_offset = wall_epoch - exp_epoch
            keypress = exp_offset - key_rt if key_rt is not None else None
            return offset, timeline.dataqueue_basis(context), {**meta,
                "alignment": "first_nidaq_pulse_wall_clock",
                "alignment_method": "first_nidaq_pulse_wall_clock",
                "anchor_device_id": str(dq["device_id"].iloc[first]),
                "anchor_wall_column": column,
                "anchor_master_s": pulse_t,
                "psychopy_to_master_offset_s": offset,
                "exp_start_offset_s": exp_offset,
                "exp_start_keypress_offset_s": keypress,
                "start_offset_s": keypress,
            }
        if dq is None and context.path_for("dataqueue") is not None:
            meta["note_dataqueue"] = "the session's dataqueue failed to load; fallback clock used"
        mapping = timeline.session_wall_map(context)
        if mapping is not None:
            stamp = self._exp_start(path, frame)
            exp_epoch = float(timeline.wall_seconds([stamp])[0])
            offset = float(mapping(exp_epoch))
            meta.update({"alignment": "expStart_wall_clock",
                         "alignment_method": "expStart_wall_clock",
                         "psychopy_to_master_offset_s": offset})
            return offset, mapping.basis, meta
        meta.update({"alignment": "psychopy_clock", "alignment_method": "psychopy_clock"})
        return 0.0, PSYCHOPY_EXPSTART, meta
