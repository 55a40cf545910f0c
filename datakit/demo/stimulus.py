"""PsychoPy trial loops (gratings, movies) and their ``*_psychopy.csv`` files.

PsychoPy's clock starts at ``expStart``; every ``.started``/``.stopped``/``.rt`` value
is seconds on that clock.  The first row belongs to the "press a key to start" routine;
then one row per trial.  ``display_<routine>.stopped`` is filled only on the last row of
each block (repetition), as in the lab's real files.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._util import write_csv

PSYCHOPY_VERSION = "2024.2.4"
UTC_OFFSET = "-0700"
GRATING_ORIENTATIONS = (0.0, 45.0, 90.0, 135.0)
GRATING_SF = 0.04
GRATING_CONTRAST = 1.0
MOVIE_FILES = ("stimuli/natural_movie_01.mp4", "stimuli/natural_movie_02.mp4",
               "stimuli/natural_movie_03.mp4")
#: task -> (routine, stimulus component, gray seconds, stimulus seconds)
ROUTINES = {
    "gratings": ("display_gratings", "stim_grating", 3.0, 2.0),
    "movies": ("display_movie", "movie", 2.0, 6.0),
}


@dataclass(eq=False)
class TrialPlan:
    """One PsychoPy run, times in seconds on PsychoPy's clock (zero = expStart)."""

    task: str
    frame_rate: float
    key_started: float
    key_rt: float
    table: pd.DataFrame    # one row per trial

    @property
    def routine(self) -> str:
        return ROUTINES[self.task][0]

    @property
    def component(self) -> str:
        return ROUTINES[self.task][1]

    def truth(self, offset: float) -> pd.DataFrame:
        """Per-trial stimulus windows shifted onto the master clock by ``offset``."""
        t = self.table
        out = pd.DataFrame({
            "trial": t["n"].to_numpy(),
            "block": t["block"].to_numpy(),
            "trial_in_block": t["trial_in_block"].to_numpy(),
            "condition": t["condition"].to_numpy(),
        })
        for col in ("ori", "sf", "contrast", "movie_file"):
            if col in t:
                out[col] = t[col].to_numpy()
        out["gray_start_s"] = t["gray_start"].to_numpy() + offset
        out["gray_stop_s"] = t["gray_stop"].to_numpy() + offset
        out["start_s"] = t["stim_start"].to_numpy() + offset
        out["stop_s"] = t["stim_stop"].to_numpy() + offset
        return out


def build_trials(rng: np.random.Generator, task: str, available: float) -> TrialPlan:
    """Blocks of shuffled conditions that end within ``available`` seconds of expStart."""
    frame = 1.0 / (60.0 * (1.0 + rng.normal(0.0, 2e-4)))
    key_started = frame * rng.integers(2, 5) + rng.uniform(0.0, 0.5e-3)
    key_rt = rng.uniform(1.0, 3.0)
    first = key_started + key_rt + frame * rng.integers(1, 4)
    _, _, gray, stim = ROUTINES[task]
    n_cond = len(GRATING_ORIENTATIONS) if task == "gratings" else len(MOVIE_FILES)
    room = available - first
    block = n_cond * (gray + stim + 2 * frame)
    if 2 * block > room:                                   # short demo: squeeze trials
        scale = max(room, 0.5) / (2 * block) * 0.95
        gray, stim = gray * scale, stim * scale
        block = n_cond * (gray + stim + 2 * frame)
    n_blocks = max(2, int(room // block))
    n = n_blocks * n_cond
    gray_f = max(1, int(round(gray / frame)))
    stim_f = max(1, int(round(stim / frame)))
    extra = (rng.random(n) < 0.03).astype(int)             # an occasional dropped frame
    length = (gray_f + stim_f + 1 + extra) * frame
    routine_start = first + np.concatenate(([0.0], np.cumsum(length[:-1])))
    flip = lambda: rng.uniform(0.1e-3, 0.6e-3, n)          # noqa: E731 - flip latency
    gray_start = routine_start + flip()
    gray_stop = routine_start + gray_f * frame + flip()
    stim_start = gray_stop + rng.uniform(0.0, 0.1e-3, n)
    stim_stop = routine_start + (gray_f + stim_f) * frame + flip()
    routine_stop = stim_stop + rng.uniform(0.2e-3, 1.0e-3, n)
    condition = np.argsort(rng.random((n_blocks, n_cond)), axis=1).ravel()
    table = pd.DataFrame({
        "block": np.repeat(np.arange(n_blocks), n_cond),
        "trial_in_block": np.tile(np.arange(n_cond), n_blocks),
        "n": np.arange(n),
        "condition": condition,
        "routine_start": routine_start, "gray_start": gray_start, "gray_stop": gray_stop,
        "stim_start": stim_start, "stim_stop": stim_stop, "routine_stop": routine_stop,
    })
    if task == "gratings":
        table["ori"] = np.asarray(GRATING_ORIENTATIONS)[condition]
        table["sf"] = GRATING_SF
        table["contrast"] = GRATING_CONTRAST
    else:
        table["movie_file"] = np.asarray(MOVIE_FILES, dtype=object)[condition]
    return TrialPlan(task, 1.0 / frame, float(key_started), float(key_rt), table)


def psychopy_frame(model) -> pd.DataFrame:
    """The trial-loop CSV of a gratings/movies session as a DataFrame."""
    plan: TrialPlan = model.trials
    spec = model.spec
    t = plan.table
    n = len(t)
    routine, component = plan.routine, plan.component
    start = model.clock.wall_datetime(model.expstart_s)
    exp_start = f"{start:%Y-%m-%d %Hh%M.%S.%f} {UTC_OFFSET}"
    date = f"{start:%Y-%m-%d_%Hh%M.%S.}{start.microsecond // 1000:03d}"

    def column(values, first=None, dtype=None):
        """Prepend the key-press row's value (empty by default) to a per-trial column."""
        out = pd.array(np.concatenate(([np.nan if first is None else first],
                                       np.asarray(values, dtype=np.float64))), dtype="Float64")
        return out.astype(dtype) if dtype else out

    def empty_first(values):
        return pd.Series([None, *np.asarray(values, dtype=object)], dtype=object)

    last_in_block = t["trial_in_block"].to_numpy() == t["trial_in_block"].max()
    cols: dict = {}
    if plan.task == "gratings":
        cols["ori"] = column(t["ori"])
        cols["sf"] = column(t["sf"])
        cols["contrast"] = column(t["contrast"])
    else:
        cols["movie_file"] = empty_first(t["movie_file"])
    cols["trials.thisRepN"] = column(t["block"], dtype="Int64")
    cols["trials.thisTrialN"] = column(t["trial_in_block"], dtype="Int64")
    cols["trials.thisN"] = column(t["n"], dtype="Int64")
    cols["trials.thisIndex"] = column(t["condition"], dtype="Int64")
    cols["thisRow.t"] = column(t["routine_stop"], first=plan.key_started + plan.key_rt)
    cols["notes"] = pd.Series([None] * (n + 1), dtype=object)
    cols["key_resp.started"] = column(np.full(n, np.nan), first=plan.key_started)
    cols["key_resp.keys"] = pd.Series(["space"] + [None] * n, dtype=object)
    cols["key_resp.rt"] = column(np.full(n, np.nan), first=plan.key_rt)
    cols[f"{routine}.started"] = column(t["routine_start"])
    cols["stim_grayScreen.started"] = column(t["gray_start"])
    cols["stim_grayScreen.stopped"] = column(t["gray_stop"])
    cols[f"{component}.started"] = column(t["stim_start"])
    cols[f"{component}.stopped"] = column(t["stim_stop"])
    cols[f"{routine}.stopped"] = column(np.where(last_in_block, t["routine_stop"], np.nan))
    constants = {
        "participant": spec.subject,
        "session": spec.session_number,
        "date": date,
        "expName": plan.task,
        "psychopyVersion": PSYCHOPY_VERSION,
        "frameRate": round(plan.frame_rate, 6),
        "expStart": exp_start,
    }
    frame = pd.DataFrame(cols)
    for key, value in constants.items():
        frame[key] = value
    return frame


def write_psychopy(model, path) -> None:
    write_csv(path, psychopy_frame(model))
