"""JobRunner: every long library call of the GUI runs here, off the GUI thread.

A job is a function ``fn(ctx)`` run in a Python worker thread.  ``ctx`` gives it the
library's ``progress`` callback (throttled before it crosses to the GUI thread), a
``cancel`` event and ``executor``: the engine's process pool, so that parsing (which
holds the GIL for hundreds of milliseconds) happens in worker processes while the
thread only waits.  Results, errors and progress come back as Qt signals, delivered in
the GUI thread; worker code never touches a widget.

Jobs run in *lanes*: one job at a time per lane.  ``main`` is for discovery, validate,
materialize and save (a second one is refused while one runs); ``cell`` loads the
selected cell for the plot (a new request cancels the previous one), with its own
one-process pool so plotting stays quick while a materialize keeps the main pool busy.

With a Dask scheduler set (:meth:`JobRunner.set_scheduler`, the "Run jobs on a Dask
scheduler" preference) the main lane's ``ctx.executor`` is a Dask client's executor,
connected on first use from the job's thread (never the GUI thread).  The cell lane,
and ``ctx.local_executor`` (files that are opened here, such as a saved dataset), stay
on this computer.

Plain ``threading`` rather than superqt's workers: those swap the process-global
``warnings.showwarning`` per worker, which two overlapping workers restore in the wrong
order.
"""
from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from datakit import Cancelled
from datakit.engine import default_workers

MAIN = "main"
CELL = "cell"
OK, ERROR, CANCELLED = "ok", "error", "cancelled"
PROGRESS_INTERVAL_S = 0.05
WORKER_NICENESS = 10


class JobContext:
    """Handed to a job function in its worker thread."""

    def __init__(self, job: Job, executor_getter: Callable[[bool], Any]):
        self._job = job
        self._executor_getter = executor_getter
        self.cancel = job.cancel_event
        self._last = 0.0
        self._done = None

    @property
    def executor(self):
        """Where the lane's library calls load: its process pool (created on first use,
        shared by later jobs), or for the main lane the Dask scheduler when one is set."""
        return self._executor_getter(False)

    @property
    def local_executor(self):
        """The lane's process pool on this computer, whatever the scheduler setting."""
        return self._executor_getter(True)

    def progress(self, done: int, total: int, message: str = "") -> None:
        """The library's progress callback; at most one GUI update per 50 ms, except the
        last one and notes (a new message without new work done: "flushing to disk")."""
        now = time.monotonic()
        note = done == self._done and bool(message)
        self._done = done
        if now - self._last >= PROGRESS_INTERVAL_S or (total and done >= total) or note:
            self._last = now
            self._job.deliver(self._job.progressed, int(done), int(total), str(message))

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled")


class Job(QObject):
    """One running job; its signals arrive in the GUI thread."""

    progressed = Signal(int, int, str)
    completed = Signal(str, object)  # outcome, result or (exception, traceback text)

    def __init__(self, name: str, lane: str, fn: Callable, parent=None):
        super().__init__(parent)
        self.name = name
        self.lane = lane
        self.outcome: str | None = None
        self.superseded = False
        self.cancel_event = threading.Event()
        self._fn = fn
        self._thread: threading.Thread | None = None
        self.started_at = time.monotonic()

    def start(self, executor_getter) -> None:
        ctx = JobContext(self, executor_getter)
        self._thread = threading.Thread(target=self._run, args=(ctx,), daemon=True,
                                        name=f"datakit-gui-{self.lane}")
        self._thread.start()

    def _run(self, ctx: JobContext) -> None:
        try:
            result = self._fn(ctx)
        except Cancelled:
            self.deliver(self.completed, CANCELLED, None)
        except BaseException as exc:  # noqa: BLE001 - every failure reaches the user
            if self.cancel_event.is_set():    # what stopping it broke (the closing window
                self.deliver(self.completed, CANCELLED, None)   # stops the workers)
                return
            self.deliver(self.completed, ERROR, (exc, "".join(traceback.format_exception(exc))))
        else:
            self.deliver(self.completed, OK, result)

    @staticmethod
    def deliver(signal, *args) -> None:
        """Emit from the worker thread; if the window is already gone there is no one to tell."""
        try:
            signal.emit(*args)
        except RuntimeError:   # the Job (and its window) were deleted: drop the message
            pass

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def running(self) -> bool:
        return self.outcome is None

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True


class JobBusy(RuntimeError):
    """A job is already running in that lane."""


class JobRunner(QObject):
    """Runs jobs (see module doc); owns the process pools it creates."""

    started = Signal(object)                    # Job
    progressed = Signal(object, int, int, str)  # Job, done, total, message
    finished = Signal(object, str)              # Job, outcome
    busy_changed = Signal(bool)                 # the main lane started/stopped
    idle = Signal()                             # no job left in any lane
    where_changed = Signal(str, str)            # where jobs run: (short, long), see where()

    def __init__(self, parent=None, *, workers: int | None = None, executor=None):
        super().__init__(parent)
        self.workers = workers or default_workers()
        self._lock = threading.Lock()
        self._executors: dict[str, Any] = {}
        self._owned: set[str] = set()
        if executor is not None:
            self._executors[MAIN] = executor
            self._executors[CELL] = executor
        self._current: dict[str, Job] = {}
        self._live: set[Job] = set()      # started and not yet completed (superseded too)
        self._closed = False
        self.scheduler: str | None = None       # Dask scheduler address or local:N
        self._connection = None                 # datakit.cluster.Connection, once connected
        self._connecting = threading.Lock()

    # pools ------------------------------------------------------------------------

    def executor(self, lane: str = MAIN, *, local: bool = False):
        if lane == MAIN and not local and self.scheduler is not None:
            return self._dask().executor
        with self._lock:
            if self._closed:
                raise Cancelled("the window is closing")
            pool = self._executors.get(lane)
            if pool is None:
                from datakit.engine import make_executor

                # niced workers: the window keeps a core's attention while they load
                pool = make_executor(self.workers if lane == MAIN else 1, "process",
                                     niceness=WORKER_NICENESS)
                self._executors[lane] = pool
                self._owned.add(lane)
            return pool

    # the Dask scheduler -----------------------------------------------------------

    def set_scheduler(self, spec: str | None) -> None:
        """Run main-lane jobs on a Dask scheduler (an address or ``local:N``), or on this
        computer (None).  Connects on the next job; refused while a main job runs."""
        spec = (spec or "").strip() or None
        if self.busy(MAIN):
            raise JobBusy("a job is running; change where jobs run when it is done")
        if spec == self.scheduler:
            return
        with self._connecting:
            old, self._connection = self._connection, None
            self.scheduler = spec
        if old is not None:      # a local cluster takes a second to stop: not in the GUI thread
            threading.Thread(target=old.close, daemon=True, name="datakit-gui-dask-close").start()
        self._tell_where()

    def _dask(self):
        """The connection to the scheduler (made now if needed; a lost one is replaced)."""
        with self._connecting:
            if self._closed:
                raise Cancelled("the window is closing")
            connection = self._connection
            if connection is not None and connection.client.status != "running":
                connection.close()
                connection = self._connection = None
            if connection is None:
                from datakit import cluster

                self._connection = connection = cluster.connect(self.scheduler)
        self._tell_where()
        return connection

    def where(self) -> tuple[str, str]:
        """Where main-lane jobs run: (a few words for the status bar, a sentence).

        Asks a connected scheduler for its workers: call it from a job's thread, or
        before the first connection."""
        if self.scheduler is None:
            return "this computer", f"this computer ({self.workers} worker processes)"
        local = self.scheduler.lower().startswith("local")
        short = "local Dask cluster" if local else f"Dask {self.scheduler}"
        long = "a local Dask cluster" if local else f"the Dask scheduler at {self.scheduler}"
        connection = self._connection
        if connection is None:
            return f"{short} (not connected yet)", f"{long} (connects at the next job)"
        try:
            workers = len(connection.workers())
            return f"{short} · {workers} worker{'s' if workers != 1 else ''}", connection.describe()
        except Exception:  # noqa: BLE001 - the scheduler went away since
            return f"{short} (connection lost)", f"{long} (connection lost)"

    def _tell_where(self) -> None:
        try:
            self.where_changed.emit(*self.where())
        except RuntimeError:   # the window is gone
            pass

    # jobs -------------------------------------------------------------------------

    def busy(self, lane: str = MAIN) -> bool:
        return lane in self._current

    def current(self, lane: str = MAIN) -> Job | None:
        return self._current.get(lane)

    def running_jobs(self) -> list[Job]:
        return list(self._current.values())

    def submit(self, name: str, fn: Callable, *, lane: str = MAIN,
               on_result: Callable | None = None, on_error: Callable | None = None,
               on_cancelled: Callable | None = None) -> Job:
        """Start ``fn(ctx)`` in ``lane``; callbacks run in the GUI thread.

        ``main``: raises :class:`JobBusy` while a job runs there.  Other lanes: the
        running job is cancelled and its result dropped.
        """
        if self._closed:
            raise JobBusy("the window is closing")
        previous = self._current.get(lane)
        if previous is not None:
            if lane == MAIN:
                raise JobBusy(f"{previous.name} is still running; cancel it or wait")
            previous.superseded = True
            previous.cancel()
            del self._current[lane]
        job = Job(name, lane, fn, self)
        self._live.add(job)

        def completed(outcome, payload):
            job.outcome = outcome
            self._live.discard(job)
            job.deleteLater()
            if job.superseded:
                return
            if self._current.get(lane) is job:
                del self._current[lane]
            try:
                if outcome == OK and on_result:
                    on_result(payload)
                elif outcome == ERROR and on_error:
                    on_error(*payload)
                elif outcome == CANCELLED and on_cancelled:
                    on_cancelled()
            finally:
                self.finished.emit(job, outcome)
                if lane == MAIN:
                    self.busy_changed.emit(False)
                if not self._current:
                    self.idle.emit()

        job.completed.connect(completed)
        job.progressed.connect(lambda d, t, m: None if job.superseded else self.progressed.emit(job, d, t, m))
        self._current[lane] = job
        job.start(lambda local: self.executor(lane, local=local))
        self.started.emit(job)
        if lane == MAIN:
            self.busy_changed.emit(True)
        return job

    def cancel(self, lane: str | None = None) -> None:
        """Ask the job in ``lane`` (every lane when None) to stop."""
        for name, job in list(self._current.items()):
            if lane is None or name == lane:
                job.cancel()

    def stop_workers(self) -> int:
        """Stop the worker processes of the pools this runner made, abandoning the cells
        they load, so a job cancelled for closing ends at once instead of after its
        running cells (a given executor and a Dask cluster are left alone)."""
        from datakit.engine import stop_workers

        with self._lock:
            pools = [p for lane, p in self._executors.items() if lane in self._owned]
            for lane in list(self._owned):         # a later job gets a fresh pool
                self._executors.pop(lane, None)
            self._owned.clear()
        stopped = 0
        for pool in pools:
            stopped += stop_workers(pool)
            pool.shutdown(wait=False, cancel_futures=True)
        return stopped

    def shutdown(self, timeout: float | None = None) -> None:
        """Cancel every job, wait for the threads, shut the owned pools down."""
        self.cancel()
        for job in list(self._live):
            job.cancel()
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in list(self._live):
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            job.join(remaining)
        with self._lock:
            self._closed = True
            pools = [(lane, p) for lane, p in self._executors.items() if lane in self._owned]
            self._executors.clear()
        for _, pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)
        with self._connecting:
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
