"""The bad-input corpus, as data: (tag, case name, how to spoil the session, expected outcome).

Every case starts from a copy of freshly generated, valid demo sessions (see
``conftest.template``), spoils one file (or the dataqueue a source depends on) and
says what the pipeline must make of it:

``LOADS``  status ``ok`` and ``check(outcome)`` passes (usually: same numbers as the
           clean session, and meta saying what was repaired or which clock was used);
``ERROR``  status ``error`` whose message matches ``pattern`` and names the file;
``SKIP``   discovery leaves the file out and records why in ``Dataset.skipped``.

Cells of the template: ``A01`` widefield (every widefield source), ``B01`` gratings
(wheel, psychopy, suite2p), ``T01`` widefield recorded without a dataqueue (the
treadmill CSV is its treadmill), ``P01`` widefield with DeepLabCut ``_full.pickle``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

import mutations as m

LOADS, ERROR, SKIP = "loads", "error", "skip"
MASTER_BASES = ("master", "dataqueue_first_row")


@dataclass(frozen=True)
class Case:
    tag: str
    name: str
    subject: str
    mutate: Callable          # mutate(env) -> the spoiled file (Path)
    expect: str
    pattern: str | None = None
    check: Callable | None = None
    cells: tuple = ()         # template cells copied (default: the subject's)
    big: bool = False         # a million-row file: built once, memory measured
    dependants_checked: bool = False  # other sources of the cell may change (checked by ``check``)

    @property
    def id(self) -> str:
        return f"{self.tag}-{self.name}"

    @property
    def copied(self) -> tuple:
        return self.cells or (self.subject,)


@dataclass
class Env:
    """Where a case writes: the copied root and each cell's file per tag."""

    root: Path
    paths: dict            # subject -> {tag: Path}
    subject: str

    def path(self, tag: str, subject: str | None = None) -> Path:
        return self.paths[subject or self.subject][tag]


# ---------------------------------------------------------------------------------
# checks on a loaded outcome (``o`` is conftest.Outcome)


def same_as_clean(*, rows=None, ignore=(), atol=1e-9):
    """Every array feature equals the clean session's (``rows``: the clean rows kept)."""
    def check(o):
        got, clean = o.features(), o.clean_features()
        for name, want in clean.items():
            if name == "meta" or name in ignore or not isinstance(want, np.ndarray):
                continue
            have = got[name]
            if rows is not None and want.ndim >= 1 and want.shape[-1] == len(clean["time_elapsed_s"]):
                want = want[..., rows(o)]
            assert np.shape(have) == np.shape(want), (name, np.shape(have), np.shape(want))
            if want.dtype.kind in "fc":
                np.testing.assert_allclose(have, want, atol=atol, rtol=0, err_msg=name)
            else:
                np.testing.assert_array_equal(have, want, err_msg=name)
    return check


def meta_says(**expected):
    """Meta entries equal the given values (a callable value is a predicate)."""
    def check(o):
        meta = o.features()["meta"]
        for key, want in expected.items():
            assert key in meta, f"meta has no {key!r}: {sorted(meta)}"
            if callable(want):
                assert want(meta[key]), (key, meta[key])
            else:
                assert meta[key] == want, (key, meta[key], want)
    return check


def rows_subset_of_clean(*names):
    """Every loaded row's values appear among the clean rows (no invented, half-read rows)."""
    def check(o):
        got, clean = o.features(), o.clean_features()
        assert len(got["time_elapsed_s"]) >= 1
        for name in names:
            have, want = np.asarray(got[name]), np.asarray(clean[name])
            assert np.isin(have, want).all(), f"{name}: {have[~np.isin(have, want)][:5]} not in the clean file"
    return check


def fewer_rows(at_least: float = 0.3):
    def check(o):
        n, n_clean = len(o.features()["time_elapsed_s"]), len(o.clean_features()["time_elapsed_s"])
        assert at_least * n_clean <= n < n_clean, (n, n_clean)
    return check


def all_of(*checks):
    def check(o):
        for c in checks:
            c(o)
    return check


def dependants_fall_back(*, exclude=()):
    """After the dataqueue failed: every dependant of the cell loads on a fallback clock
    or fails saying the dataqueue is the reason; never a crash, never 'master'."""
    def check(o):
        for tag in o.cell_tags():
            if tag in ("dataqueue", *exclude) or "dataqueue" not in o.requires(tag):
                continue
            status = o.status(tag=tag)
            if status == "ok":
                basis = o.features(tag=tag)["meta"].get("time_basis")
                assert basis not in MASTER_BASES, (tag, basis)
            else:
                assert re.search(r"dataqueue", o.message(tag=tag)), (tag, o.message(tag=tag))
    return check


def dependants_on_first_row_clock(*tags):
    """Dataqueue without master-camera rows: these load, on the documented fallback."""
    def check(o):
        for tag in tags:
            assert o.status(tag=tag) == "ok", (tag, o.message(tag=tag))
            meta = o.features(tag=tag)["meta"]
            assert meta.get("time_basis") == "dataqueue_first_row", (tag, meta.get("time_basis"))
            t = o.features(tag=tag)["time_elapsed_s"]
            assert np.all(np.isfinite(t))
    return check


# ---------------------------------------------------------------------------------
# the generic spoilers, bound to a tag


def on(tag, fn, *args, subject=None, **kwargs):
    def mutate(env):
        path = env.path(tag, subject)
        fn(path, *args, **kwargs)
        return path
    return mutate


def on_dataqueue(fn, *args, **kwargs):
    def mutate(env):
        path = env.path("dataqueue")
        fn(path, *args, **kwargs)
        return path
    return mutate


def strip_identity(tag):
    """Move the file under processed/ with a name that carries no sub-/ses- token."""
    def mutate(env):
        path = env.path(tag)
        name = re.sub(r"_?(sub|ses|task)-[A-Za-z0-9]+", "", path.name)
        target = env.root / "processed" / "loose" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
        return target
    return mutate


@dataclass(frozen=True)
class CsvSpec:
    subject: str
    clock: str | None            # the column time comes from
    value: str                   # a value column
    header_error: str            # message for a wrong/missing header
    clock_error: str | None      # message when no row has a usable clock
    what: str = ""


EMPTY = r"file is empty \(0 bytes\)"
NOT_TEXT = r"not a text CSV \(undecodable bytes at offset \d+\)"

CSV = {
    "dataqueue": CsvSpec("A01", "queue_elapsed", "payload",
                         r"not a dataqueue file: missing column\(s\) \['queue_elapsed', 'device_id'\]",
                         r"no row has a numeric queue_elapsed"),
    "treadmill": CsvSpec("T01", "timestamp", "speed_mm",
                         r"not a treadmill CSV: expected columns timestamp, distance_mm \(or distance\) "
                         r"and speed_mm \(or speed\)",
                         r"no row has a numeric timestamp"),
    "wheel": CsvSpec("B01", "Time", "Speed",
                     r"not a wheel CSV \(Clicks,Time,Speed\): missing column\(s\) \['Clicks', 'Time', 'Speed'\]",
                     r"no row has a numeric Time"),
    "meso_mean": CsvSpec("A01", "Slice", "Mean",
                         r"not a mesoscope trace CSV \(Slice,Mean\): missing column\(s\) \['Slice', 'Mean'\]",
                         r"no row has a numeric Slice"),
    "meso_dff": CsvSpec("A01", "Slice", "Mean",
                        r"not a mesoscope trace CSV \(Slice,Mean\): missing column\(s\) \['Slice', 'Mean'\]",
                        r"no row has a numeric Slice"),
    "mesomap": CsvSpec("A01", "frame", "MOs_L",
                       r"not a mesomap traces CSV \(frame \+ one column per ROI\): missing column\(s\) \['frame'\]",
                       r"no row has a numeric frame"),
    "timestamps": CsvSpec("A01", "started", "device_id",
                          r"not a timestamps CSV \(device_id,started,stopped\): missing column\(s\)",
                          r"no row has a readable 'started' time"),
    "session_config": CsvSpec("A01", None, "Value",
                              r"not a configuration CSV \(Parameter,Value\): missing column\(s\)",
                              None),
    "psychopy": CsvSpec("B01", "stim_grating.started", "ori",
                        r"not a PsychoPy trial-loop CSV: needs a loop counter column",
                        r"none of the \d+ trials has a start time"),
}


def _csv_common(tag: str, spec: CsvSpec) -> list[Case]:
    s = spec.subject
    # a broken dataqueue: its dependants must fall back or say why (checked for each)
    dq = dict(check=dependants_fall_back(), dependants_checked=True) if tag == "dataqueue" else {}
    cases = [
        Case(tag, "empty", s, on(tag, m.empty), ERROR, EMPTY, **dq),
        Case(tag, "random_bytes", s, on(tag, m.random_bytes), ERROR, NOT_TEXT, **dq),
        Case(tag, "wrong_header", s, on(tag, m.rename_header), ERROR, spec.header_error, **dq),
        Case(tag, "no_header", s, on(tag, m.drop_header), ERROR, spec.header_error, **dq),
        Case(tag, "no_identity", s, strip_identity(tag), SKIP,
             r"matches '\w+' but has no sub- and ses- token"),
    ]
    return cases


def all_cases() -> list[Case]:
    from corpus_cases import source_cases

    cases = []
    for tag, spec in CSV.items():
        cases += _csv_common(tag, spec)
    cases += source_cases()
    ids = [c.id for c in cases]
    dupes = {i for i in ids if ids.count(i) > 1}
    assert not dupes, f"duplicate case ids: {dupes}"
    return cases
