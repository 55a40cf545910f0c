"""Writing sessions and whole demo experiments; what was written, missing and broken."""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable

from ..errors import Cancelled
from . import acquisition, cameras, imaging, session_files, stimulus
from ._util import make_rng, write_bytes
from .model import (DHYANA_CONFIGURED_FPS, DHYANA_RATE_HZ, TASKS, VARIANTS, WALL_BASE,
                    WHEEL_TASKS, CellSpec, GroundTruth, build_model)

#: The 14 source tags, in the order of the reference table.
TAGS = ("dataqueue", "treadmill", "wheel", "psychopy", "meso_metadata", "pupil_metadata",
        "meso_mean", "meso_dff", "mesomap", "pupil_dlc", "suite2p", "session_config", "notes",
        "timestamps")

#: Which sources a complete session of each task has.
TASK_TAGS = {
    "widefield": ("dataqueue", "treadmill", "meso_metadata", "pupil_metadata", "meso_mean",
                  "meso_dff", "mesomap", "pupil_dlc", "session_config", "notes", "timestamps"),
    "gratings": ("dataqueue", "wheel", "psychopy", "suite2p", "session_config", "notes",
                 "timestamps"),
    "movies": ("dataqueue", "wheel", "psychopy", "session_config", "notes", "timestamps"),
}

_LABEL = re.compile(r"^[A-Za-z0-9]+$")
Writer = Callable[[object, Path], None]


@dataclass(eq=False)
class SessionFiles:
    """The files of one (subject, session, task) cell and its ground truth.

    ``paths[tag]`` is the file discovery should match for that source; ``companions``
    holds the other files a source reads (mesomap mask/regions, suite2p plane files).
    """

    subject: str                 # bare, as in the inventory index ("STREHAB07")
    session: str                 # "ses-01"
    task: str                    # "task-widefield"
    stamp: str                   # "20250706_161035"
    session_dir: Path
    paths: dict
    companions: dict
    variants: frozenset
    truth: GroundTruth

    @property
    def key(self) -> tuple:
        return (self.subject, self.session, self.task)

    def __repr__(self) -> str:
        return (f"SessionFiles({self.subject}/{self.session}/{self.task}, stamp={self.stamp}, "
                f"sources={sorted(self.paths)}, variants={sorted(self.variants)})")

    def files(self) -> list[Path]:
        out = list(self.paths.values())
        for extra in self.companions.values():
            out.extend(extra)
        return out


@dataclass(frozen=True)
class MissingFile:
    """A source a complete session of this task would have, left out on purpose."""

    subject: str
    session: str
    task: str
    tag: str
    reason: str


@dataclass(frozen=True)
class BrokenFile:
    """The file made unreadable on purpose, and how."""

    subject: str
    session: str
    task: str
    tag: str
    path: Path
    what: str

    def __fspath__(self) -> str:          # usable wherever a path is expected
        return str(self.path)


@dataclass(eq=False)
class DemoExperiment:
    root: Path
    subjects: tuple
    sessions: tuple
    tasks: tuple                 # "task-..." labels
    duration: float
    seed: int
    cells: dict                  # (subject, session, task) -> SessionFiles
    missing: list
    broken: list
    root_files: list = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"DemoExperiment(root={str(self.root)!r}, cells={len(self.cells)}, "
                f"missing={len(self.missing)}, broken={len(self.broken)})")

    @property
    def missing_cells(self) -> list[tuple]:
        """Cells whose whole task was not recorded."""
        expected = {(m.subject, m.session, m.task) for m in self.missing}
        return sorted(k for k in expected if k not in self.cells)

    def cell(self, subject: str, session, task: str) -> SessionFiles:
        key = (_subject_label(subject), _session_label(session), "task-" + _task_name(task))
        return self.cells[key]

    def paths(self, tag: str) -> dict:
        """(subject, session, task) -> path, for every cell that has ``tag``."""
        return {k: c.paths[tag] for k, c in self.cells.items() if tag in c.paths}

    def files(self) -> list[Path]:
        out = list(self.root_files)
        for c in self.cells.values():
            out.extend(c.files())
        return out

    def expected_inventory(self):
        """The files written per (cell, source): rows (Subject, Session, Task), str paths.

        Presence matches what discovery finds; the path can differ where a source
        prefers another file of the cell (e.g. treadmill read from the dataqueue).
        """
        import pandas as pd

        keys = sorted(self.cells)
        tags = [t for t in TAGS if any(t in self.cells[k].paths for k in keys)]
        data = {t: [str(self.cells[k].paths[t]) if t in self.cells[k].paths else None
                    for k in keys] for t in tags}
        index = pd.MultiIndex.from_tuples(keys, names=["Subject", "Session", "Task"])
        return pd.DataFrame(data, index=index, dtype=object)


# ---------------------------------------------------------------------------------
# labels


def _subject_label(subject) -> str:
    text = str(subject)
    text = text[4:] if text.startswith("sub-") else text
    if not _LABEL.match(text):
        raise ValueError(f"subject must be letters and digits only, got {subject!r}")
    return text


def _session_label(session) -> str:
    if isinstance(session, int):
        return f"ses-{session:02d}"
    text = str(session)
    text = text[4:] if text.startswith("ses-") else text
    if not _LABEL.match(text):
        raise ValueError(f"session must be letters and digits only, got {session!r}")
    return f"ses-{text}"


def _task_name(task) -> str:
    text = str(task)
    text = text[5:] if text.startswith("task-") else text
    if text not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    return text


def _variants(variant) -> frozenset:
    if variant is None:
        return frozenset()
    names = frozenset([variant] if isinstance(variant, str) else variant)
    unknown = names - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variant(s) {sorted(unknown)}; known: {sorted(VARIANTS)}")
    return names


def _kinds(task: str, kinds) -> tuple:
    allowed = TASK_TAGS[task]
    if kinds is None:
        return allowed
    wanted = set([kinds] if isinstance(kinds, str) else kinds)
    unknown = wanted - set(TAGS)
    if unknown:
        raise ValueError(f"unknown file kind(s) {sorted(unknown)}; known: {list(TAGS)}")
    foreign = wanted - set(allowed)
    if foreign:
        raise ValueError(f"task {task!r} has no {sorted(foreign)} files; it has {list(allowed)}")
    return tuple(t for t in allowed if t in wanted)


# ---------------------------------------------------------------------------------
# one session


def _file_plan(root: Path, spec: CellSpec, tag: str) -> list[tuple[Path, Writer]]:
    """The files written for ``tag`` (the discovered one first) and their writers."""
    ses_dir = root / "data" / f"sub-{spec.subject}" / spec.session
    processed = root / "processed"
    stem = spec.stem
    if tag == "dataqueue":
        return [(ses_dir / "beh" / f"{stem}_dataqueue.csv", acquisition.write_dataqueue)]
    if tag == "treadmill":
        return [(ses_dir / "beh" / f"{stem}_treadmill.csv", acquisition.write_treadmill)]
    if tag == "wheel":
        return [(ses_dir / "beh" / f"{stem}_wheel.csv", acquisition.write_wheel)]
    if tag == "psychopy":
        return [(ses_dir / "beh" / f"{stem}_psychopy.csv", stimulus.write_psychopy)]
    if tag == "meso_metadata":
        return [(ses_dir / "func" / f"{stem}_mesoscope.ome.tiff_frame_metadata.json",
                 cameras.write_meso_sidecar)]
    if tag == "pupil_metadata":
        return [(ses_dir / "func" / f"{stem}_pupil.mp4_frame_metadata.json",
                 cameras.write_pupil_sidecar)]
    if tag == "meso_mean":
        return [(processed / "means" / f"{stem}_mesoscope.ome_meso-mean-trace.csv",
                 imaging.write_meso_mean)]
    if tag == "meso_dff":
        return [(processed / "means" / f"{stem}_mesoscope.ome_meso-collapse_first-trace.csv",
                 imaging.write_meso_dff)]
    if tag == "mesomap":
        traces = processed / "mesomap" / f"{stem}_mesoscope.ome_traces.csv"
        return [(traces, imaging.write_mesomap_traces),
                (imaging.mesomap_sibling(traces, ".mask.npy"), imaging.write_mesomap_mask),
                (imaging.mesomap_sibling(traces, ".regions.csv"), imaging.write_mesomap_regions)]
    if tag == "pupil_dlc":
        return [(processed / "dlc_output" / cameras.dlc_filename(stem, spec.variants),
                 cameras.write_dlc)]
    if tag == "suite2p":
        plane = processed / "suite2p" / f"{stem}_suite2p" / "plane0"
        return [(plane / name, imaging.suite2p_writer(name)) for name in imaging.SUITE2P_FILES]
    if tag == "session_config":
        return [(ses_dir / f"{stem}_configuration.csv", session_files.write_configuration)]
    if tag == "notes":
        return [(ses_dir / f"{stem}_notes.txt", session_files.write_notes)]
    if tag == "timestamps":
        return [(ses_dir / f"{stem}_timestamps.csv", session_files.write_timestamps)]
    raise ValueError(f"unknown file kind {tag!r}")


class _CellWriter:
    """The planned files of one cell; the timing model is built on first use."""

    def __init__(self, root: Path, spec: CellSpec, kinds: tuple):
        self.root = Path(root)
        self.spec = spec
        self.kinds = kinds
        self.jobs = [(tag, path, writer, i == 0) for tag in kinds
                     for i, (path, writer) in enumerate(_file_plan(self.root, spec, tag))]
        self._model = None

    @property
    def key(self) -> tuple:
        return (self.spec.subject, self.spec.session, f"task-{self.spec.task}")

    @property
    def model(self):
        if self._model is None:
            self._model = build_model(self.spec)
        return self._model

    def result(self) -> SessionFiles:
        paths, companions = {}, {}
        for tag, path, _, primary in self.jobs:
            if primary:
                paths[tag] = path
            else:
                companions.setdefault(tag, []).append(path)
        spec = self.spec
        return SessionFiles(
            subject=spec.subject, session=spec.session, task=f"task-{spec.task}",
            stamp=spec.stamp, session_dir=self.root / "data" / f"sub-{spec.subject}" / spec.session,
            paths=paths, companions={k: tuple(v) for k, v in companions.items()},
            variants=spec.variants, truth=self.model.truth)


def _default_start(seed: int, subject: str, session: str, task: str, stamp) -> datetime:
    rng = make_rng(seed, "start", subject, session, task)
    if isinstance(stamp, datetime):
        return stamp
    if stamp is not None:
        try:
            day = datetime.strptime(str(stamp), "%Y%m%d_%H%M%S")
        except ValueError:
            raise ValueError(f"stamp must look like 'YYYYMMDD_HHMMSS', got {stamp!r}") from None
        return day + timedelta(microseconds=int(rng.integers(0, 1_000_000)))
    number = session[4:]
    days = 7 * (int(number) - 1) if number.isdigit() else int(rng.integers(0, 60))
    slot = {"widefield": 0, "gratings": 25, "movies": 50}[task]
    return WALL_BASE + timedelta(days=days, minutes=slot,
                                 microseconds=int(rng.integers(0, 300_000_000)))


def write_session(root, subject, session, task, *, duration: float = 60.0, seed: int = 0,
                  stamp=None, kinds=None, variant=None) -> SessionFiles:
    """Write one session's files under ``root`` and return their paths and ground truth.

    ``session`` may be ``1``, ``"01"`` or ``"ses-01"``; ``task`` one of ``widefield``,
    ``gratings``, ``movies``.  ``stamp`` (``"YYYYMMDD_HHMMSS"`` or a datetime) sets the
    start; ``kinds`` limits which sources are written (default: all the task has);
    ``variant`` is a name or names from :data:`VARIANTS`.
    """
    subject = _subject_label(subject)
    session = _session_label(session)
    task = _task_name(task)
    spec = CellSpec(subject, session, task, _default_start(seed, subject, session, task, stamp),
                    float(duration), int(seed), _variants(variant))
    cell = _CellWriter(Path(root), spec, _kinds(task, kinds))
    for _, path, writer, _ in cell.jobs:
        writer(cell.model, path)
    return cell.result()


# ---------------------------------------------------------------------------------
# a whole experiment


class _Progress:
    def __init__(self, progress, total: int):
        self.total = total
        self.done = 0
        self.bar = None
        self.callback = None
        if progress is True:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="file", desc="demo", file=sys.stderr)
        elif callable(progress):
            self.callback = progress
            progress(0, total, "starting")
        elif progress not in (False, None):
            raise TypeError(f"progress must be a bool or a callable, got {type(progress)}")

    def step(self, message: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        if self.callback is not None:
            self.callback(self.done, self.total, message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _subject_names(subjects) -> list[str]:
    if isinstance(subjects, int):
        if subjects < 1:
            raise ValueError("subjects must be at least 1")
        return [f"STREHAB{7 + i:02d}" for i in range(subjects)]
    if isinstance(subjects, str):
        subjects = [subjects]
    names = [_subject_label(s) for s in subjects]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"subjects must be distinct and non-empty, got {subjects!r}")
    return names


def _plan(root, names, n_sessions, tasks, duration, seed, missing, broken):
    """Cells with their kinds and variants, what is left out, and the file to break."""
    sessions = [f"ses-{j + 1:02d}" for j in range(n_sessions)]
    length = duration * DHYANA_CONFIGURED_FPS / DHYANA_RATE_HZ + 2.0
    cells = []
    for i, subject in enumerate(names):
        for j, session in enumerate(sessions):
            rng = make_rng(seed, "day", subject, session)
            at = WALL_BASE + timedelta(days=7 * j + i // 4, hours=1.75 * (i % 4))
            if i or j:
                at += timedelta(microseconds=int(rng.integers(0, 600_000_000)))
            for task in tasks:
                cells.append([subject, session, task, at])
                at += timedelta(seconds=length + float(rng.uniform(120.0, 420.0)))

    left_out: list[MissingFile] = []
    removed = set()
    if missing and len(tasks) > 1:
        if len(names) > 1:
            removed.add((names[-1], sessions[0], tasks[-1]))
        if n_sessions > 1:
            removed.add((names[0], sessions[-1], tasks[1]))
    kept = [c for c in cells if (c[0], c[1], c[2]) not in removed]
    for subject, session, task in sorted(removed):
        for tag in TASK_TAGS[task]:
            left_out.append(MissingFile(subject, session, f"task-{task}", tag,
                                        "task not recorded in this session"))

    kinds = {id(c): list(TASK_TAGS[c[2]]) for c in kept}
    variants = {id(c): set() for c in kept}
    absent: dict = {}                      # id(cell) -> {tag: reason}
    wide = [c for c in kept if c[2] == "widefield"]
    wheel = [c for c in kept if c[2] in WHEEL_TASKS]
    gratings = [c for c in kept if c[2] == "gratings"]
    for w, c in enumerate(wide):
        if w % 2:
            variants[id(c)].add("dlc_pickle")
    if wide:
        n = len(wide)
        variants[id(wide[1 % n])].add("encoder_COM3")
        variants[id(wide[2 % n])].add("legacy_treadmill_header")
        variants[id(wide[3 % n])].add("opencv_pupil")
        variants[id(wide[4 % n])] |= {"dlc_multianimal", "encoder_wrap"}
        variants[id(wide[4 % n])].discard("dlc_pickle")
    if wheel:
        variants[id(wheel[1 % len(wheel)])].add("wheel_dropped_rows")

    if missing:
        def leave_out(c, tag, reason):
            absent.setdefault(id(c), {})[tag] = reason

        for w, c in enumerate(wide):
            if w % 2 == 1:
                leave_out(c, "treadmill", "treadmill CSV not exported (encoder only in the dataqueue)")
            if w % 3 != 0:
                leave_out(c, "meso_dff", "dF/F trace not computed")
            if w % 3 == 2:
                leave_out(c, "mesomap", "mesomap not run")
        if len(wide) > 1:
            leave_out(wide[1], "pupil_metadata", "pupil camera sidecar not saved")
        if len(wide) > 2:
            leave_out(wide[2], "pupil_dlc", "DeepLabCut not run")
        if len(wide) > 3:
            leave_out(wide[3], "timestamps", "older acquisition version without timestamps.csv")
        if len(gratings) > 1:
            leave_out(gratings[1], "suite2p", "suite2p not run")
        if len(kept) > 4:
            leave_out(kept[4], "notes", "no notes taken")

    plan = []
    for c in kept:
        subject, session, task, at = c
        gone = absent.get(id(c), {})
        for tag, reason in gone.items():
            left_out.append(MissingFile(subject, session, f"task-{task}", tag, reason))
        spec = CellSpec(subject, session, task, at, float(duration), int(seed),
                        frozenset(variants[id(c)]))
        plan.append(_CellWriter(root, spec, tuple(t for t in kinds[id(c)] if t not in gone)))

    target = None
    if broken:
        candidates = [cw for cw in plan if "pupil_metadata" in cw.kinds]
        if candidates:
            target = (candidates[-1], "pupil_metadata")
        else:
            candidates = [cw for cw in plan if "wheel" in cw.kinds]
            if candidates:
                target = (candidates[-1], "wheel")
    return sessions, plan, left_out, target


def _break_file(tag: str, path: Path) -> str:
    """Make one written file unreadable, the way a crashed acquisition leaves it."""
    data = path.read_bytes()
    if tag == "wheel":
        write_bytes(path, b"")
        return "emptied to 0 bytes (acquisition crashed before the first flush)"
    cut = int(len(data) * 0.6)
    write_bytes(path, data[:cut])
    return f"truncated to {cut} of {len(data)} bytes (JSON cut off in the middle of a frame)"


def generate(root, *, subjects=3, sessions: int = 2,
             tasks: Iterable[str] = ("widefield", "gratings", "movies"),
             duration: float = 60.0, seed: int = 0, missing: bool = True,
             broken: bool = True, progress=False, cancel=None) -> DemoExperiment:
    """Write a realistic demo experiment under ``root`` and describe it.

    ``subjects`` is a count (names ``STREHAB07``, ``STREHAB08``, ...) or a list of names;
    each subject gets ``sessions`` sessions (``ses-01``...) with one recording per task.
    ``missing`` leaves some recordings out (whole tasks and single files),
    ``broken`` makes exactly one file unreadable; both are listed in the result.
    ``progress`` is False/True (tqdm on stderr) or ``progress(done, total, message)``;
    when ``cancel.is_set()`` generation stops between files with :class:`Cancelled`.
    Every file is written to a temporary name and renamed, so none is left half-written.
    """
    root = Path(root)
    names = _subject_names(subjects)
    if int(sessions) < 1:
        raise ValueError("sessions must be at least 1")
    task_names = tuple(dict.fromkeys(_task_name(t) for t in ([tasks] if isinstance(tasks, str)
                                                             else tasks)))
    if not task_names:
        raise ValueError("tasks must name at least one task")
    if float(duration) < 10.0:
        raise ValueError(f"duration must be at least 10 s, got {duration}")
    session_labels, plan, left_out, target = _plan(root, names, int(sessions), task_names,
                                                   float(duration), int(seed), missing, broken)
    total = 2 + sum(len(cw.jobs) for cw in plan)
    reporter = _Progress(progress, total)

    def check() -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"demo generation cancelled after {reporter.done} of {total} files")

    cells: dict = {}
    broken_files: list[BrokenFile] = []
    try:
        check()
        last_sessions = {n: session_labels[-1][4:] for n in names}
        root_files = session_files.write_root_files(root, int(seed), names, last_sessions,
                                                    float(duration))
        reporter.step(str(root_files[0].name))
        reporter.step(str(root_files[1].name))
        for cw in plan:
            for tag, path, writer, primary in cw.jobs:
                check()
                writer(cw.model, path)
                if target is not None and cw is target[0] and tag == target[1] and primary:
                    what = _break_file(tag, path)
                    broken_files.append(BrokenFile(*cw.key, tag, path, what))
                reporter.step(f"{cw.spec.subject}/{cw.spec.session}/{cw.spec.task}: {path.name}")
            cells[cw.key] = cw.result()
            cw._model = None                      # free the arrays of a finished session
    finally:
        reporter.close()
    return DemoExperiment(
        root=root, subjects=tuple(names), sessions=tuple(session_labels),
        tasks=tuple(f"task-{t}" for t in task_names), duration=float(duration),
        seed=int(seed), cells=cells, missing=left_out, broken=broken_files,
        root_files=root_files)
