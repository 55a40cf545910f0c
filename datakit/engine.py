"""The engine: load every (cell, source) in dependency order, cells in parallel.

Both ``Dataset.validate`` and ``Dataset.materialize`` run through :func:`run`.  One
cell is one task: inside it, sources load in dependency order, each file is read once
and dependency streams (the dataqueue) are shared through the ``LoadContext``.  A
required source loads even when it is not among the selected sources (so the master
clock does not depend on what you chose to look at); it is just not reported.

Cells run on a ``concurrent.futures.Executor``: a process pool by default (parsing
holds the GIL, so threads barely help; see ``bench/bench_library.py``), a thread pool
with ``parallel="thread"``, in this process with ``workers=1``, or any executor you pass.
A Dask ``Client.get_executor()`` is supported (:mod:`datakit.cluster`): its tasks go
through the path map, a probe checks that the workers see the files before any work,
and a cell whose worker died is reported as failed with the reason.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import sys
import threading
import traceback as _traceback
import warnings
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import Cancelled, LoadError
from .layout import META_FEATURE, check_stream, stream_features
from .progress import Reporter
from .settings import Settings
from .sources.base import LoadContext, is_missing_path
from .timeline import context_fields

VALIDATE = "validate"
MATERIALIZE = "materialize"
STATUS_OK, STATUS_MISSING, STATUS_ERROR = "ok", "missing", "error"


@dataclass(frozen=True)
class CellTask:
    """Everything one worker needs for one cell (picklable)."""

    position: int
    key: tuple
    row: dict                       # tag -> path (None when missing)
    order: tuple                    # tags to load, dependencies first
    active: tuple                   # tags to report
    classes: dict                   # tag -> DataSource subclass
    settings: Settings
    mode: str
    #: Set on tasks sent to a Dask worker: tag -> path as the submitting machine spells
    #: it (``row`` then holds the paths the worker reads, after the path map).
    client_paths: dict | None = None


@dataclass
class LoadOutcome:
    tag: str
    status: str
    path: str | None
    error_type: str | None = None
    message: str | None = None
    traceback: str | None = None
    exception: BaseException | None = None   # the original (or a picklable stand-in)
    cached: bool = False            # reused from the index (validate), not loaded now
    transient: bool = False         # not the file's fault (a worker died, or could not see
                                    # the file): reported, never stored in the cache


@dataclass
class CellResult:
    position: int
    outcomes: list = field(default_factory=list)     # LoadOutcome per active tag
    features: dict = field(default_factory=dict)     # tag -> {feature: value}


_is_missing = is_missing_path      # the one definition, in datakit.sources.base


def _identity(key: tuple) -> tuple[str, str, str | None]:
    subject, session = str(key[0]), str(key[1])
    task = str(key[2]) if len(key) > 2 else None
    return subject, session, task


def iter_loads(task: CellTask, *, cancel=None):
    """Load ``task.order`` one by one; yields ``(tag, path, stream, exception)``.

    ``path`` is None for a missing file; ``stream`` is None when missing or failed.
    Dependency streams and the dataqueue's context fields are shared between loads.
    """
    subject, session, cell_task = _identity(task.key)
    streams: dict[str, Any] = {}
    dq_fields: dict = {}
    for tag in task.order:
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")
        cls = task.classes[tag]
        path = task.row.get(tag)
        if _is_missing(path):
            streams[tag] = None
            yield tag, None, None, None
            continue
        path = str(path)
        if task.client_paths is not None and not os.path.exists(path):
            streams[tag] = None
            yield tag, path, None, _not_on_worker(task, tag, path)
            continue
        context = LoadContext(
            subject=subject,
            session=session,
            task=cell_task,
            inventory_row=task.row,
            dependencies={req: streams.get(req) for req in cls.requires},
            settings=task.settings,
            **(dq_fields if "dataqueue" in cls.requires else {}),
        )
        try:
            stream = check_stream(cls().load(Path(path), context=context), tag, cls.kind)
        except Exception as exc:
            streams[tag] = None
            yield tag, path, None, exc
            continue
        streams[tag] = stream
        if tag == "dataqueue":
            dq_fields = context_fields(stream, task.settings)
        yield tag, path, stream, None


def run_cell(task: CellTask, *, cancel=None, on_load=None, finish=None) -> CellResult:
    """Load one cell.  ``cancel``/``on_load`` are only used when running in-process;
    ``finish(result)`` (a picklable function) runs last, where the cell ran."""
    result = _load_cell(task, cancel, on_load)
    if finish is not None:
        finish(result)
    return result


def _load_cell(task: CellTask, cancel, on_load) -> CellResult:
    result = CellResult(task.position)
    for tag, path, stream, exc in iter_loads(task, cancel=cancel):
        if tag not in task.active:
            continue
        if path is None:
            result.outcomes.append(LoadOutcome(tag, STATUS_MISSING, None))
        elif exc is None and task.mode == MATERIALIZE:
            try:
                result.features[tag] = stream_features(stream, task.classes[tag].kind)
            except Exception as flat_exc:
                exc = flat_exc
        if path is not None:
            if exc is None:
                result.outcomes.append(LoadOutcome(tag, STATUS_OK, path))
            else:
                result.outcomes.append(LoadOutcome(
                    tag, STATUS_ERROR, path, type(exc).__name__, _message(exc),
                    "".join(_traceback.format_exception(exc)),
                    _portable(exc) if task.mode == MATERIALIZE else None,
                    transient=isinstance(exc, NotOnWorker)))
        if on_load:
            on_load(task.key, tag)
    if task.client_paths is not None:
        _as_client_sees_it(task, result)
    return result


class NotOnWorker(FileNotFoundError):
    """A file of a task sent to a Dask worker does not exist on that worker."""


def _not_on_worker(task: CellTask, tag: str, path: str) -> NotOnWorker:
    import socket

    origin = task.client_paths.get(tag)
    mapped = f" (the path map's translation of {origin})" if str(origin) != path else ""
    return NotOnWorker(
        f"{path}{mapped} does not exist on Dask worker {socket.gethostname()}: check that "
        "the worker mounts the experiment and the path map (--path-map FROM=TO)")


def _as_client_sees_it(task: CellTask, result: CellResult) -> None:
    """Paths in the outcomes and in each stream's meta as the submitting machine spells
    them, so a cluster's frame and report equal a local run's."""
    back = {str(task.row[tag]): str(original) for tag, original in task.client_paths.items()
            if original is not None and task.row.get(tag) is not None}
    for outcome in result.outcomes:
        if outcome.path is not None:
            outcome.path = back.get(outcome.path, outcome.path)
    for features in result.features.values():
        meta = features.get(META_FEATURE)
        if isinstance(meta, dict):
            features[META_FEATURE] = {k: back.get(v, v) if isinstance(v, str) else v
                                      for k, v in meta.items()}


class _RemoteTraceback(Exception):
    """Carries the formatted traceback of an exception raised in a worker process."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


def _portable(exc: BaseException) -> BaseException:
    """``exc`` itself when it survives pickling (results may cross processes), else a
    stand-in of its nearest built-in base class with the same message."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        base = next((c for c in type(exc).__mro__ if c.__module__ == "builtins"
                     and issubclass(c, Exception)), Exception)
        try:
            return base(f"{type(exc).__name__}: {_message(exc)}")
        except Exception:  # a base class with a different signature
            return Exception(f"{type(exc).__name__}: {_message(exc)}")


def _message(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        text = exc.args[0]
    return text or type(exc).__name__


# ---------------------------------------------------------------------------------
# executors


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _mp_context():
    # fork is unsafe once threads exist (the GUI, BLAS); forkserver keeps workers cheap
    if sys.platform.startswith("linux"):
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["datakit.engine", "datakit.sources.registry"])
        _start_forkserver_without_sigint()
        return ctx
    return multiprocessing.get_context("spawn")


def _start_forkserver_without_sigint() -> None:
    """Start the fork server (once per process) with Ctrl+C ignored.

    It shares the terminal's process group, so a Ctrl+C while it imports datakit would
    kill it with a traceback; an ignored signal stays ignored through its exec (and for
    the workers it forks).  Only from the main thread (signal handlers live there); the
    handler is put back at once.
    """
    import signal
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


class _MainSpec:
    """Stands in for ``__main__.__spec__`` while worker processes start (see _Pool)."""

    name = "__main__"


_MAIN_SPEC_LOCK = threading.Lock()


@contextlib.contextmanager
def _main_not_reimported():
    """Start worker processes without re-running the user's script in them.

    Spawned/forkserver workers normally re-import ``__main__`` from its file, which
    re-runs a script that lacks an ``if __name__ == "__main__":`` guard (and fails for
    ``python -``).  A ``__main__`` spec named ``"__main__"`` tells multiprocessing to
    leave the workers' ``__main__`` alone.  The spec is set for the moment of a submit
    (which may start a worker), under a lock (the app submits from two threads), and
    put back after.
    """
    with _MAIN_SPEC_LOCK:
        main = sys.modules.get("__main__")
        if main is None or getattr(main, "__spec__", None) is not None:
            yield
            return
        main.__spec__ = _MainSpec
        try:
            yield
        finally:
            main.__spec__ = None


class _Pool(cf.ProcessPoolExecutor):
    """A process pool whose workers never re-run the user's ``__main__``."""

    def submit(self, fn, /, *args, **kwargs):
        with _main_not_reimported():
            return super().submit(fn, *args, **kwargs)


def _start_worker(niceness: int) -> None:
    """Start of a pool worker: Ctrl+C is for the process that owns the pool (it cancels
    and shuts the pool down), not for each worker to die of with a traceback; and the
    worker's CPU priority lowered by ``niceness``."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if niceness:
        try:
            os.nice(niceness)
        except (AttributeError, OSError):  # not POSIX, or not permitted: run as is
            pass


def make_executor(workers: int, parallel: str = "process", *, reimport_main: bool = False,
                  niceness: int = 0) -> cf.Executor:
    """A new pool for ``workers`` (the caller shuts it down).

    ``reimport_main=True`` is needed only when a source class lives in ``__main__``
    (the script then needs the usual ``if __name__ == "__main__":`` guard).
    ``niceness`` lowers the worker processes' CPU priority, so an interactive process
    (the desktop app) stays responsive while they use every core.
    """
    if parallel == "thread":
        return cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="datakit")
    if parallel == "process":
        pool_class = cf.ProcessPoolExecutor if reimport_main else _Pool
        return pool_class(max_workers=workers, mp_context=_mp_context(),
                          initializer=_start_worker, initargs=(niceness,))
    raise ValueError(f"parallel must be 'process' or 'thread', got {parallel!r}")


def stop_workers(pool: cf.Executor) -> int:
    """Stop a process pool's workers now, abandoning the cells they are loading (their
    futures fail with ``BrokenProcessPool``): for a program that is closing and must not
    wait for a long cell.  Other executors are left alone.  Returns how many were stopped."""
    if not isinstance(pool, cf.ProcessPoolExecutor):
        return 0
    kill = getattr(pool, "kill_workers", None)          # Python 3.14+
    processes = list((getattr(pool, "_processes", None) or {}).values())
    if kill is not None:
        kill()
        return len(processes)
    stopped = 0
    for process in processes:                           # the same by hand before 3.14
        try:
            if process.is_alive():
                process.kill()
                stopped += 1
        except (OSError, ValueError, AttributeError):   # already gone or closed
            pass
    return stopped


def _label(key: tuple) -> str:
    return "/".join(str(k) for k in key)


def run(tasks: list[CellTask], *, workers: int | None = None, parallel: str = "process",
        executor: cf.Executor | None = None, progress=False, cancel=None,
        stop_on_error: bool = False, n_loads: int | None = None,
        done_before: tuple[int, str] = (0, ""), on_result=None,
        finish=None) -> list[CellResult]:
    """Run ``tasks``; results in task order.

    ``stop_on_error`` stops at the first failed load (its result is the last one
    returned).  Progress counts (cell, source) loads of active sources, after
    ``done_before`` = (count, message) of work finished without loading (cached).

    ``on_result(result)`` is called in the calling thread with each cell's result as
    soon as the cell finishes (in completion order, before progress counts it); the
    results returned then keep their outcomes but not their features, so a caller that
    writes features away as they arrive (a streamed save) holds only the cells in flight.
    ``finish(result)``, a picklable function, runs where each cell ran (in the worker),
    e.g. to turn features into what ``on_result`` writes, in parallel.
    """
    total = n_loads if n_loads is not None else sum(len(t.active) for t in tasks)
    reporter = Reporter(progress, total=total + done_before[0], unit="load", desc="loading")
    if done_before[0]:
        reporter.advance(done_before[0], done_before[1])
    results: dict[int, CellResult] = {}     # by task position
    try:
        if workers is None:
            workers = default_workers()
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be a positive int, got {workers!r}")
        if not tasks:                 # nothing to load (e.g. every outcome was cached)
            return []
        if executor is None and (workers == 1 or len(tasks) <= 1):
            _run_inline(tasks, results, reporter, cancel, stop_on_error, on_result, finish)
        elif executor is not None and is_dask(executor):
            from . import cluster

            sent = cluster.prepare(tasks, executor, cancel=cancel)   # raises before any work
            try:
                _run_pool(executor, tasks, results, reporter, cancel, stop_on_error,
                          max_in_flight=cluster.InFlight(executor), on_result=on_result,
                          finish=finish, send=sent, submit_options={"pure": False},
                          lost=cluster.lost_cell, wait_cancelled=False,
                          check=cluster.ConnectionCheck(executor))
            except cluster.SchedulerLost as exc:     # what finished is handed on
                exc.results = [results[t.position] for t in tasks if t.position in results]
                raise
        else:
            own = executor is None
            in_main = any(cls.__module__ == "__main__" for cls in tasks[0].classes.values())
            pool = make_executor(min(workers, len(tasks)), parallel, reimport_main=in_main) \
                if own else executor
            try:
                _run_pool(pool, tasks, results, reporter, cancel, stop_on_error,
                          max_in_flight=lambda: max(2, 2 * (workers or 1)), on_result=on_result,
                          finish=finish)
            except BrokenProcessPool as exc:
                # worker processes could not start or died (killed, out of memory):
                # finish what is left here rather than lose the job
                warnings.warn(f"worker processes failed ({exc}); loading the remaining "
                              "cells in this process", RuntimeWarning, stacklevel=3)
                left = [t for t in tasks if t.position not in results]
                _run_inline(left, results, reporter, cancel, stop_on_error, on_result, finish)
            finally:
                if own:
                    pool.shutdown(wait=True, cancel_futures=True)
    finally:
        reporter.close()
    return [results[t.position] for t in tasks if t.position in results]


def _failed(result: CellResult) -> bool:
    return any(o.status == STATUS_ERROR for o in result.outcomes)


def _handed_over(result: CellResult, on_result) -> CellResult:
    """Give ``result`` to ``on_result`` (if any) and keep only its outcomes."""
    if on_result is not None:
        on_result(result)
        result.features = {}
    return result


def _run_inline(tasks, results, reporter, cancel, stop_on_error, on_result=None, finish=None):
    def on_load(key, tag):
        reporter.advance(1, f"{_label(key)} {tag}")

    for task in tasks:
        result = run_cell(task, cancel=cancel, on_load=on_load, finish=finish)
        results[task.position] = _handed_over(result, on_result)
        if stop_on_error and _failed(result):
            return


def is_dask(executor) -> bool:
    """Is ``executor`` a Dask ``Client.get_executor()`` (without importing distributed)?"""
    return type(executor).__module__.split(".", 1)[0] == "distributed"


def _run_pool(pool, tasks, results, reporter, cancel, stop_on_error, max_in_flight,
              on_result=None, finish=None, send=None, submit_options=None, lost=None,
              wait_cancelled=True, check=None):
    """Keep ``max_in_flight()`` cells submitted; ``send`` (same order as ``tasks``) is
    what is submitted when it differs from ``tasks``; ``lost(task, exc)`` turns a future
    that failed outside ``run_cell`` (a worker died) into that cell's result.

    On return (stop_on_error, cancel) the pending cells are cancelled, and waited for
    when ``wait_cancelled``.  A Dask executor's futures are not: one cancelled while its
    task finishes is never marked done (distributed's ClientExecutor), and a task that
    already runs on a worker cannot be stopped anyway.  ``check(finished, total)``,
    called between waits, raises when the executor can no longer deliver (a lost
    Dask scheduler).  ``finish`` runs in the worker on each cell's result, ``on_result``
    here as each arrives (see :func:`run`)."""
    pending: dict[cf.Future, CellTask] = {}
    queue = iter(zip(tasks, send if send is not None else tasks))
    exhausted = False
    try:
        while True:
            limit = max_in_flight()
            while not exhausted and len(pending) < limit:
                pair = next(queue, None)
                if pair is None:
                    exhausted = True
                    break
                task, sent = pair
                pending[pool.submit(run_cell, sent, finish=finish, **(submit_options or {}))] = task
            if not pending:
                return
            done, _ = cf.wait(pending, timeout=0.05, return_when=cf.FIRST_COMPLETED)
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")
            if check is not None:
                check(len(results), len(tasks))
            for future in done:
                task = pending.pop(future)
                try:
                    result = future.result()
                except (Exception, cf.CancelledError) as exc:
                    if lost is None:
                        raise
                    result = lost(task, exc)
                result = _handed_over(result, on_result)
                results[task.position] = result
                reporter.advance(len(task.active), _label(task.key))
                if stop_on_error and _failed(result):
                    return
    finally:
        for future in pending:
            future.cancel()
        if pending and wait_cancelled:
            cf.wait(pending)


# ---------------------------------------------------------------------------------
# assembling results


def errors_frame(tasks: list[CellTask], results: list[CellResult], index_names) -> pd.DataFrame:
    """The validate() report: one row per (cell, active source)."""
    by_pos = {r.position: r for r in results}
    records = []
    for task in tasks:
        result = by_pos.get(task.position)
        if result is None:
            continue
        for o in result.outcomes:
            records.append((*task.key, o.tag, o.status, o.path, o.error_type, o.message,
                            o.traceback, bool(o.cached)))
    columns = [*index_names, "Source", "status", "path", "error_type", "message", "traceback",
               "cached"]
    return pd.DataFrame.from_records(records, columns=columns).astype(object)


def first_error(tasks, results) -> LoadError | None:
    by_pos = {r.position: r for r in results}
    for task in tasks:
        result = by_pos.get(task.position)
        for o in (result.outcomes if result else ()):
            if o.status == STATUS_ERROR:
                subject, session, cell_task = _identity(task.key)
                err = LoadError(subject, session, cell_task, o.tag, o.path, o.error_type, o.message)
                err.traceback = o.traceback
                cause = o.exception
                if cause is not None:
                    if cause.__traceback__ is None and o.traceback and cause.__cause__ is None:
                        # raised in a worker process: show where, like concurrent.futures does
                        cause.__cause__ = _RemoteTraceback(o.traceback)
                    err.__cause__ = cause
                return err
    return None


def features_frame(tasks: list[CellTask], results: list[CellResult], index: pd.Index,
                   sources: tuple) -> pd.DataFrame:
    """Assemble per-cell features into the (Source, Feature) frame."""
    n = len(index)
    by_pos = {r.position: r for r in results}
    columns: dict[tuple[str, str], np.ndarray] = {}  # in order of first appearance
    for tag in sources:
        for task in tasks:
            result = by_pos.get(task.position)
            for name, value in (result.features.get(tag) or {}).items() if result else ():
                column = columns.get((tag, name))
                if column is None:
                    column = columns[(tag, name)] = np.full(n, np.nan, dtype=object)
                column[task.position] = value
    if columns:
        frame = pd.DataFrame(columns, index=index, dtype=object, copy=False)
        frame.columns = pd.MultiIndex.from_tuples(list(columns), names=["Source", "Feature"])
    else:  # nothing loaded (or no rows): from_tuples([]) cannot infer the two levels
        frame = pd.DataFrame(index=index, dtype=object,
                             columns=pd.MultiIndex.from_arrays([[], []], names=["Source", "Feature"]))
    return frame
