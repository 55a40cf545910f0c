"""Writing one session, or a whole experiment with progress, cancel and bookkeeping."""
from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable

from ..errors import Cancelled
from . import records, session_files
from ._util import make_rng, write_bytes
from .layout import (TASK_TAGS, file_plan, kind_tuple, session_label, subject_label,
                     task_name, variant_set)
from .model import (DHYANA_CONFIGURED_FPS, DHYANA_RATE_HZ, MIN_DURATION_S, WALL_BASE,
                    WHEEL_TASKS, CellSpec, build_model)
from .results import BrokenFile, DemoExperiment, MissingFile, SessionFiles


class _CellWriter:
    """The planned files of one cell; the timing model is built on first use."""

    def __init__(self, root: Path, spec: CellSpec, kinds: tuple):
        self.root = Path(root)
        self.spec = spec
        self.kinds = kinds
        self.jobs = [(tag, path, writer, i == 0) for tag in kinds
                     for i, (path, writer) in enumerate(file_plan(self.root, spec, tag))]
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


def _check_duration(duration) -> None:
    if not float(duration) >= MIN_DURATION_S:
        raise ValueError(f"duration must be at least {MIN_DURATION_S:g} s, got {duration}")


def write_session(root, subject, session, task, *, duration: float = 60.0, seed: int = 0,
                  stamp=None, kinds=None, variant=None) -> SessionFiles:
    """Write one session's files under ``root`` and return their paths and ground truth.

    ``session`` may be ``1``, ``"01"`` or ``"ses-01"``; ``task`` one of ``widefield``,
    ``gratings``, ``movies``.  ``stamp`` (``"YYYYMMDD_HHMMSS"`` or a datetime) sets the
    start; ``kinds`` limits which sources are written (default: all the task has);
    ``variant`` is a name or names from :data:`VARIANTS`.
    """
    subject = subject_label(subject)
    session = session_label(session)
    task = task_name(task)
    _check_duration(duration)
    spec = CellSpec(subject, session, task, _default_start(seed, subject, session, task, stamp),
                    float(duration), int(seed), variant_set(variant))
    cell = _CellWriter(Path(root), spec, kind_tuple(task, kinds))
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
    names = [subject_label(s) for s in subjects]
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
                leave_out(c, "treadmill",
                          ("treadmill CSV not exported (encoder only in the dataqueue)", "dataqueue"))
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
            reason, covered_by = reason if isinstance(reason, tuple) else (reason, None)
            left_out.append(MissingFile(subject, session, f"task-{task}", tag, reason, covered_by))
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
    ``missing`` leaves some recordings out (whole tasks and single files, and one file
    deleted after ``manifest.json`` listed it), ``broken`` makes exactly one file
    unreadable; both are listed in the result.  The root also gets ``datakit.toml``
    (which sources each task should have) and ``manifest.json``.
    ``progress`` is False/True (tqdm on stderr) or ``progress(done, total, message)``;
    when ``cancel.is_set()`` generation stops between files with :class:`Cancelled`.
    Every file is written to a temporary name and renamed, so none is left half-written.
    """
    root = Path(root)
    names = _subject_names(subjects)
    if int(sessions) < 1:
        raise ValueError("sessions must be at least 1")
    task_names = tuple(dict.fromkeys(task_name(t) for t in ([tasks] if isinstance(tasks, str)
                                                             else tasks)))
    if not task_names:
        raise ValueError("tasks must name at least one task")
    _check_duration(duration)
    session_labels, plan, left_out, target = _plan(root, names, int(sessions), task_names,
                                                   float(duration), int(seed), missing, broken)
    total = 4 + sum(len(cw.jobs) for cw in plan)
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
        check()
        protocol = records.write_protocol(root, task_names)
        reporter.step(protocol.name)
        manifest = records.write_manifest(root, list(cells.values()))
        reporter.step(manifest.name)
        if missing:
            _delete_listed_file(cells, left_out)
    finally:
        reporter.close()
    return DemoExperiment(
        root=root, subjects=tuple(names), sessions=tuple(session_labels),
        tasks=tuple(f"task-{t}" for t in task_names), duration=float(duration),
        seed=int(seed), cells=cells, missing=left_out, broken=broken_files,
        root_files=root_files, protocol=protocol, manifest=manifest)


def _delete_listed_file(cells: dict, left_out: list) -> None:
    """Delete one file the manifest lists, as a clean-up of a shared drive does."""
    chosen = records.file_to_delete([c for c in cells.values() if c.paths])
    if chosen is None:
        return
    cell, tag = chosen
    Path(cell.paths.pop(tag)).unlink()
    left_out.append(MissingFile(cell.subject, cell.session, cell.task, tag, records.DELETED_REASON))
