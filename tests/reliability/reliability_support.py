"""What the reliability tests share: the template cells, the case runner, memory
measurement and the counters printed at the end of a run (fixtures are in conftest.py;
this is a plain module, so test files import it by its own name)."""
from __future__ import annotations

import gc
import shutil
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

import datakit
from datakit.sources.registry import registered_sources

DURATION = 10.0
#: Template cells: subject -> (task, kinds, variant); see corpus.py.
CELLS = {
    "A01": ("widefield", None, None),
    "B01": ("gratings", None, None),
    "T01": ("widefield", ("treadmill", "session_config", "notes", "timestamps"), None),
    "P01": ("widefield", ("dataqueue", "pupil_metadata", "pupil_dlc", "timestamps"), "dlc_pickle"),
    "S01": ("widefield", ("meso_metadata", "pupil_metadata", "meso_mean", "timestamps"), None),
}

#: What the reliability tests tried; printed by pytest_terminal_summary.
STATS: dict = {"outcomes": Counter(), "discovery": 0, "memory": [], "properties": Counter()}


# ---------------------------------------------------------------------------------
# the template: valid generated sessions, copied for every case


@dataclass
class Template:
    root: Path
    paths: dict          # subject -> {tag: Path} (primary file of each source)
    report: pd.DataFrame
    frame: pd.DataFrame


def discover(root) -> datakit.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)          # conflicts are expected (treadmill CSV)
        return datakit.Dataset.from_directory(root)



def copy_cells(template: Template, dest: Path, subjects) -> dict:
    """Copy the files of ``subjects`` to ``dest``; their paths there, per subject and tag."""
    marks = tuple(f"sub-{s}" for s in subjects)
    for src in template.root.rglob("*"):
        if src.is_file() and any(mark in str(src.relative_to(template.root)) for mark in marks):
            target = dest / src.relative_to(template.root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
    return {s: {tag: dest / p.relative_to(template.root) for tag, p in template.paths[s].items()}
            for s in subjects}


# ---------------------------------------------------------------------------------
# outcome of one case


def features_of(frame: pd.DataFrame, subject: str, tag: str) -> dict:
    rows = [k for k in frame.index if k[0] == subject]
    assert len(rows) == 1, f"expected one row for {subject}, got {rows}"
    row = frame.loc[rows[0]]
    out = {}
    for (source, feature), value in row.items():
        if source == tag and not (isinstance(value, float) and np.isnan(value)):
            out[feature] = value
    return out


@dataclass
class Outcome:
    """What the pipeline made of one case; ``features()`` etc. default to the case's target."""

    case: object
    bad_path: Path
    dataset: datakit.Dataset
    report: pd.DataFrame
    frame: pd.DataFrame
    template: Template
    subject: str
    tag: str

    def of(self, tag: str) -> "Outcome":
        return replace(self, tag=tag)

    def _row(self, subject, tag):
        r = self.report
        hit = r[(r.Subject == (subject or self.subject)) & (r.Source == (tag or self.tag))]
        assert len(hit) == 1, f"no report row for {subject or self.subject}/{tag or self.tag}"
        return hit.iloc[0]

    def status(self, subject=None, tag=None) -> str:
        return self._row(subject, tag).status

    def message(self, subject=None, tag=None) -> str:
        return str(self._row(subject, tag).message)

    def features(self, subject=None, tag=None) -> dict:
        return features_of(self.frame, subject or self.subject, tag or self.tag)

    def clean_features(self, subject=None, tag=None) -> dict:
        return features_of(self.template.frame, subject or self.subject, tag or self.tag)

    def cell_tags(self, subject=None) -> list[str]:
        r = self.report
        return list(r[(r.Subject == (subject or self.subject)) & (r.status != "missing")].Source)

    @staticmethod
    def requires(tag: str) -> tuple:
        return registered_sources()[tag].requires


# ---------------------------------------------------------------------------------
# memory


class PeakRSS:
    """Peak resident memory growth of this process while the block runs (sampled)."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.proc = psutil.Process()

    def __enter__(self):
        gc.collect()
        self.base = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.start = time.perf_counter()
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)
        self.seconds = time.perf_counter() - self.start
        self.growth = self.peak - self.base
        return False
