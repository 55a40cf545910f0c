"""Running an export: file names, the checks before anything is written, the cells in
parallel, atomic writes, the report.

Each cell is one job: load its sources (the engine's :func:`~datakit.engine.run_cell`,
the same code ``materialize`` runs), build the NWBFile and write it, all in the worker
(a process of the pool by default), so the data never travel between processes and
the calling thread only waits.  ``workers=1`` (or a single cell) runs in this process.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import errno
import os
import re
import secrets
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from .. import engine
from ..errors import Cancelled
from ..progress import Reporter
from . import cell as cell_module
from . import metadata
from .mapping import SKIPPED

TEMP_SUFFIX = ".datakit-tmp"            # the same naming as datakit.io's atomic saves
_HOST = "".join(c for c in socket.gethostname() if c.isalnum())[:32] or "host"
_LABEL_BAD = re.compile(r"[^A-Za-z0-9]+")
REPORT_COLUMNS = ["Source", "Feature", "status", "nwb", "note", "file"]
CLOCK_SOURCES = ("dataqueue", "timestamps")     # what session_start_time is read from


class NWBExport(NamedTuple):
    """What :meth:`datakit.Dataset.to_nwb` returns: ``paths, report = ds.to_nwb(...)``.

    ``paths``: the files written, one per exported cell.  ``report``: one row per
    (cell, source, feature): ``status`` is ``exported`` (``nwb`` says where in the
    file), ``left out`` (``note`` says why), ``failed`` (the source did not load; the
    error is in the file's notes) or ``skipped`` (the whole cell, ``note`` says why;
    Source and Feature are empty).  ``report[report.status != "exported"]`` is what the
    files do not hold.
    """

    paths: list
    report: pd.DataFrame


@dataclass
class CellJob:
    """Everything one worker needs for one cell (picklable)."""

    task: engine.CellTask
    index_names: tuple
    target: str
    replaces: tuple            # other exports of the same cell to remove once written
    root: dict                 # metadata.read_root() of the cell's experiment root
    timezone: object
    version: str
    roots: tuple
    dataset_notes: tuple


@dataclass
class CellOutcome:
    key: tuple
    path: str | None
    rows: list = field(default_factory=list)     # (source, feature, status, nwb, note)
    skipped: str | None = None


# ---------------------------------------------------------------------------------
# names


def label(text: str, prefix: str) -> str:
    """A DANDI/BIDS label: letters and digits (``ses-05`` -> ``05``)."""
    text = str(text)
    if text.startswith(prefix):
        text = text[len(prefix):]
    return _LABEL_BAD.sub("", text) or "unknown"


def file_name(key: tuple, modalities: list[str]) -> str:
    """``sub-<subject>/sub-<subject>_ses-<session>[_task-<task>][_<modalities>].nwb``."""
    sub = f"sub-{label(key[0], 'sub-')}"
    parts = [sub, f"ses-{label(key[1], 'ses-')}"]
    if len(key) > 2 and key[2] is not None:
        parts.append(f"task-{label(key[2], 'task-')}")
    stem = "_".join(parts)
    if modalities:
        stem += "_" + "+".join(modalities)
    return f"{sub}/{stem}.nwb"


def _siblings(target: Path) -> list[Path]:
    """Other exports of the same cell beside ``target`` (another modality suffix)."""
    stem = target.name[: -len(".nwb")]
    cell = re.match(r"^(sub-[A-Za-z0-9]+_ses-[A-Za-z0-9]+(?:_task-[A-Za-z0-9]+)?)", stem)
    if cell is None or not target.parent.is_dir():
        return []
    pattern = re.compile(re.escape(cell.group(1)) + r"(?:_[a-z]+(?:\+[a-z]+)*)?\.nwb$")
    return [p for p in target.parent.iterdir()
            if p != target and pattern.match(p.name) and p.is_file()]


# ---------------------------------------------------------------------------------
# the export


def export(tasks: list, index_names, folder, *, overwrite=False, progress=False, cancel=None,
           workers=None, executor=None, timezone=None, roots=(), notes=()) -> NWBExport:
    """Write one NWB file per cell of ``tasks`` under ``folder`` (see Dataset.to_nwb)."""
    from ..meta import get_version

    _require_pynwb()
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled before anything was written")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    folder = Path(os.fspath(folder)).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "the NWB output folder is a file", str(folder))
    if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "the NWB output folder cannot be written", str(folder))

    jobs, existing = _plan(tasks, index_names, folder, overwrite, timezone, get_version(), roots, notes)
    if existing:
        shown = ", ".join(str(p) for p in existing[:3])
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise FileExistsError(errno.EEXIST, f"{len(existing)} NWB file(s) of this export already "
                              f"exist ({shown}{more}); pass overwrite=True (--overwrite) to "
                              "replace them", str(existing[0]))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot create the NWB output folder ({exc.strerror})",
                        str(folder)) from exc

    outcomes: dict[int, CellOutcome] = {}
    reporter = Reporter(progress, total=len(jobs), unit="file", desc="NWB")
    try:
        if workers is None:
            workers = engine.default_workers()
        if jobs:
            if executor is None and (workers == 1 or len(jobs) == 1):
                for i, job in enumerate(jobs):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled(_cancelled(outcomes, len(jobs)))
                    outcomes[i] = export_cell(job, cancel=cancel)
                    reporter.advance(1, _message(outcomes[i]))
            else:
                _run_pool(jobs, outcomes, reporter, cancel, workers, executor)
    finally:
        reporter.close()
    return _result(jobs, outcomes, index_names)


def _require_pynwb() -> None:
    try:
        import pynwb  # noqa: F401
    except ImportError as exc:
        raise ImportError("NWB export needs pynwb: pip install 'datakit[nwb]'") from exc


def _plan(tasks, index_names, folder, overwrite, timezone, version, roots, notes):
    """The jobs, and the files that exist already (refused unless ``overwrite``)."""
    root_info = [metadata.read_root(r) for r in roots]
    jobs, existing, seen = [], [], {}
    for task in tasks:
        paths = [p for p in task.row.values() if isinstance(p, str) and p]
        present = [t for t in task.active if isinstance(task.row.get(t), str) and task.row.get(t)]
        name = file_name(task.key, cell_module.modalities(present, task.row))
        target = folder / name
        if name in seen:
            raise ValueError(f"cells {seen[name]} and {task.key} would both be written to {name} "
                             "(their labels differ only in characters a DANDI name cannot hold)")
        seen[name] = task.key
        others = _siblings(target)
        if target.exists() and not target.is_file():
            raise IsADirectoryError(errno.EISDIR, "an NWB file's place is taken by a folder", str(target))
        if not overwrite:
            existing += ([target] if target.exists() else []) + others
        at = metadata.root_of(paths, roots) if roots else None
        jobs.append(CellJob(task, tuple(index_names), str(target), tuple(map(str, others)),
                            root_info[at] if at is not None else {}, timezone, version,
                            tuple(map(str, roots)), tuple(notes)))
    return jobs, existing


def _message(outcome: CellOutcome) -> str:
    cell = "/".join(outcome.key)
    return f"{cell}: skipped ({outcome.skipped})" if outcome.skipped else \
        f"{cell}: wrote {Path(outcome.path).name}"


def _cancelled(outcomes: dict, total: int) -> str:
    written = [o.path for o in outcomes.values() if o.path]
    return (f"NWB export cancelled: {len(written)} of {total} files written (complete, kept)"
            + (f": {', '.join(Path(p).name for p in written[:5])}" if written else ""))


def _run_pool(jobs, outcomes, reporter, cancel, workers, executor) -> None:
    own = executor is None
    # a source class defined in the user's script needs the script in the workers too
    in_main = any(cls.__module__ == "__main__" for cls in jobs[0].task.classes.values())
    pool = engine.make_executor(min(workers, len(jobs)), "process", reimport_main=in_main) \
        if own else executor
    pending: dict = {}
    queue = iter(enumerate(jobs))
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < max(2, 2 * workers):
                item = next(queue, None)
                if item is None:
                    exhausted = True
                    break
                pending[pool.submit(export_cell, item[1])] = item[0]
            if not pending:
                return
            done, _ = cf.wait(pending, timeout=0.05, return_when=cf.FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                outcomes[i] = future.result()
                reporter.advance(1, _message(outcomes[i]))
            if cancel is not None and cancel.is_set():
                for future in pending:
                    future.cancel()
                for future in cf.as_completed(list(pending)):   # running cells finish their file
                    if not future.cancelled() and future.exception() is None:
                        outcomes[pending[future]] = future.result()
                pending.clear()
                raise Cancelled(_cancelled(outcomes, len(jobs)))
    finally:
        for future in pending:
            future.cancel()
        if pending:
            cf.wait(pending)
        if own:
            pool.shutdown(wait=True, cancel_futures=True)


def _result(jobs, outcomes, index_names) -> NWBExport:
    names = list(index_names)
    records, paths = [], []
    for i, job in enumerate(jobs):
        outcome = outcomes.get(i)
        if outcome is None:
            continue
        key = list(job.task.key)
        if outcome.path:
            paths.append(Path(outcome.path))
        if outcome.skipped:
            records.append((*key, None, None, SKIPPED, None, outcome.skipped, None))
        for source, feature, status, where, note in outcome.rows:
            records.append((*key, source, feature, status, where or None, note or None, outcome.path))
    report = pd.DataFrame.from_records(records, columns=[*names, *REPORT_COLUMNS]).astype(object)
    return NWBExport(paths, report)


# ---------------------------------------------------------------------------------
# one cell (runs in a worker)


def export_cell(job: CellJob, cancel=None) -> CellOutcome:
    """Load one cell, build its NWBFile and write it atomically (in a worker process)."""
    task = job.task
    # the clock sources load as dependencies even when the selection leaves them out;
    # keep their streams (not exported) so session_start_time is still the master's zero
    clock = tuple(t for t in CLOCK_SOURCES if t in task.order and t not in task.active)
    result = engine.run_cell(dataclasses.replace(task, active=task.active + clock), cancel=cancel)
    outcomes = [o for o in result.outcomes if o.tag in task.active]
    try:
        with warnings.catch_warnings():
            # pynwb's notes on linked tables and its own deprecations are not the user's concern
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            nwbfile, rows = cell_module.build(
                task.key, job.index_names, outcomes, result.features, task.classes, job.root,
                Path(job.target), timezone=job.timezone, version=job.version, roots=job.roots,
                dataset_notes=job.dataset_notes)
    except cell_module.Skip as skip:
        return CellOutcome(task.key, None, [], str(skip))
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled")
    _write(nwbfile, Path(job.target))
    for other in job.replaces:       # an earlier export of this cell under another name
        try:
            os.unlink(other)
        except FileNotFoundError:
            pass
    return CellOutcome(task.key, job.target, rows)


def _write(nwbfile, target: Path) -> None:
    """Write to a temporary file beside ``target`` and rename it into place."""
    from pynwb import NWBHDF5IO

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot create the folder for {target.name} ({exc.strerror})",
                        str(target.parent)) from exc
    _cleanup_stale(target.parent)
    tmp = target.with_name(f".{target.name}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            with NWBHDF5IO(str(tmp), mode="w") as io:
                io.write(nwbfile)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and str(target) not in str(exc):
            raise OSError(exc.errno, f"could not write {target}: {exc.strerror or exc}") from exc
        raise


def _cleanup_stale(folder: Path) -> None:
    """Temporary files of an NWB write whose process is gone (killed mid-write)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not (name.startswith(".") and ".nwb." in name and name.endswith(TEMP_SUFFIX)):
            continue
        parts = name[: -len(TEMP_SUFFIX)].rsplit(".", 1)[-1].split("-")
        if len(parts) != 3 or parts[0] != _HOST:
            continue
        try:
            os.kill(int(parts[1]), 0)
        except ProcessLookupError:
            try:
                os.unlink(entry.path)
            except OSError:
                pass
        except (ValueError, OSError):
            continue
