"""Running validate, materialize and save on a Dask cluster (``pip install 'datakit[distributed]'``).

The engine runs on any ``concurrent.futures.Executor``; a Dask client offers one::

    from distributed import Client
    client = Client("tcp://scheduler:8786")
    df = ds.materialize(executor=client.get_executor())

or, with what the command line and the app use::

    with datakit.cluster.connect("tcp://scheduler:8786") as dask:    # or "local:4"
        df = ds.materialize(executor=dask.executor)

What the engine adds for a Dask executor (this module; ``distributed`` is imported only
here, and only when used):

* **The path map.**  Each cell task sent to a worker has its paths rewritten by
  ``settings.path_map`` (:mod:`datakit.pathmap`).  Paths that no rule matches are an
  error before any work.  The worker reports paths and ``meta`` file names back as this
  machine spells them, so frames and reports equal a local run's.
* **A probe before any work.**  One small task asks a worker whether it sees a few of
  the (mapped) files; if not, the run stops at once and says which.  A file missing on
  a worker later is reported for its cell (``NotOnWorker``), never cached as broken.
* **Dead workers.**  Dask re-runs the tasks of a worker that died on another worker
  (``distributed.scheduler.allowed-failures``, default 3 times).  A cell that still
  does not finish (``KilledWorker``, or the task failed outside the loading code) is
  reported as failed with the reason; the other cells are kept.  Such outcomes are never
  stored in the validation cache, so the next validate loads them again.
* **A lost scheduler** (it stopped, the network went down) ends the run at once with
  :class:`SchedulerLost`, saying how many cells had finished; validate keeps their
  outcomes in the cache.  (Dask cancels every task of a client that lost its scheduler.)
* **Enough work in flight** for the whole cluster: twice its threads (not this
  machine's cores), re-read every few seconds as workers come and go.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import re
import socket
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from .errors import Cancelled
from .pathmap import PathMap, PathMapError, describe

if TYPE_CHECKING:   # engine (numpy, pandas) is imported where it is used: the command
    from . import engine  # line checks --scheduler with parse_local before loading it

DEFAULT_PORT = 8786
CONNECT_TIMEOUT_S = 10.0
PROBE_FILES = 5            # files a worker is asked about before any work
#: LocalCluster options: no dashboard, and the scheduler's small HTTP server (health,
#: metrics; always started) on a free port of this machine, not 8787 on every interface
LOCAL_QUIET = {"dashboard_address": None, "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"}}
_LOCAL = re.compile(r"^local(?::(.*))?$", re.IGNORECASE)


class SchedulerUnreachable(ConnectionError):
    """No Dask scheduler answers at the address given."""


class SchedulerLost(ConnectionError):
    """The connection to the Dask scheduler was lost during a run.

    ``results`` holds the cells that had finished (validate stores their outcomes in the
    cache before this reaches you, so running again loads only the rest).
    """

    def __init__(self, message: str, results=()):
        super().__init__(message)
        self.results = list(results)


# --------------------------------------------------------------------------------------
# connecting


def _need_distributed():
    try:
        import distributed
    except ImportError:
        raise ImportError("running on a Dask cluster needs the distributed package: "
                          "pip install 'datakit[distributed]'", name="distributed") from None
    return distributed


def parse_local(spec: str) -> int | None:
    """``local:N`` -> N; ``local`` -> one worker per core; None when ``spec`` is an address."""
    match = _LOCAL.match(spec.strip())
    if match is None:
        return None
    text = match.group(1)
    if text is None or text == "":
        return os.cpu_count() or 1
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"--scheduler {spec}: expected local:N with N a whole number of "
                         "workers, e.g. local:4") from None
    if n < 1:
        raise ValueError(f"--scheduler {spec}: a local cluster needs at least 1 worker, "
                         "e.g. local:4")
    return n


def normalise_address(address: str) -> str:
    """``host``, ``host:port`` or ``tcp://host:port`` as a full address (port 8786 by default)."""
    text = address.strip()
    if not text:
        raise ValueError("the scheduler address is empty; give HOST:PORT (e.g. "
                         "tcp://scheduler:8786) or local:N")
    if "://" not in text:
        text = "tcp://" + text
    protocol, rest = text.split("://", 1)
    if protocol == "tcp" and not re.search(r":\d+$", rest.rstrip("/")):
        if rest.endswith(":") or ":" in rest.strip("[]"):  # "host:" or a bad port
            raise ValueError(f"scheduler address {address!r}: the port is not a number "
                             f"(e.g. tcp://scheduler:{DEFAULT_PORT})")
        text = f"tcp://{rest.rstrip('/')}:{DEFAULT_PORT}"
    return text


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Open (and close) a TCP connection to a ``tcp://`` scheduler address, so a wrong
    host or port fails in seconds with what to check, not after Dask's retries."""
    protocol, rest = address.split("://", 1)
    if protocol != "tcp":
        return                     # tls://, ws://, ...: left to Dask
    host, _, port = rest.rstrip("/").rpartition(":")
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except socket.gaierror:
        raise SchedulerUnreachable(
            f"cannot reach the Dask scheduler at {address}: host {host!r} is unknown "
            "(check the name, or use its IP address)") from None
    except ConnectionRefusedError:
        raise SchedulerUnreachable(
            f"cannot reach the Dask scheduler at {address}: the connection was refused. "
            f"Is the scheduler running ('dask scheduler' listens on port {DEFAULT_PORT}), "
            "and is the port right?") from None
    except TimeoutError:
        raise SchedulerUnreachable(
            f"cannot reach the Dask scheduler at {address}: no answer within {timeout:g} s. "
            "Check the address, the network or VPN, and that a firewall lets the port "
            "through") from None
    except OSError as exc:
        raise SchedulerUnreachable(
            f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc}. "
            "Check the address and the network") from None


class Connection:
    """A Dask client (and the LocalCluster this process started, for ``local:N``).

    ``executor`` is what validate/materialize/save take; :meth:`close` shuts a local
    cluster down (a remote scheduler and its workers are left running).
    """

    def __init__(self, client, cluster=None, spec: str = ""):
        self.client = client
        self.cluster = cluster
        self.spec = spec
        self.executor = client.get_executor()

    @property
    def address(self) -> str:
        return str(self.client.scheduler.address)

    @property
    def local(self) -> bool:
        return self.cluster is not None

    def workers(self) -> dict:
        """Worker address -> threads."""
        return dict(self.client.nthreads())

    def describe(self) -> str:
        threads = self.workers()
        what = f"{len(threads)} worker{'s' if len(threads) != 1 else ''}, " \
               f"{sum(threads.values())} thread{'s' if sum(threads.values()) != 1 else ''}"
        if self.local:
            return f"a local Dask cluster ({what})"
        return f"the Dask scheduler at {self.address} ({what})"

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def connect(spec: str, *, timeout: float = CONNECT_TIMEOUT_S) -> Connection:
    """A :class:`Connection` to ``spec``: a scheduler address (``tcp://host:8786``,
    ``host:8786``, ``host``) or ``local:N`` (start a LocalCluster of N single-threaded
    worker processes, no dashboard; closed with the connection).

    Raises ValueError for a malformed spec and :class:`SchedulerUnreachable` (a
    ConnectionError naming the address and what to check) when nothing answers.
    """
    if not isinstance(spec, str):
        raise TypeError(f"the scheduler is a str (an address or local:N), got {type(spec).__name__}")
    n_local = parse_local(spec)
    address = None if n_local is not None else normalise_address(spec)
    _need_distributed()
    from distributed import Client

    if n_local is not None:
        from distributed import LocalCluster

        cluster = LocalCluster(n_workers=n_local, threads_per_worker=1, processes=True,
                               **LOCAL_QUIET)
        try:
            return Connection(Client(cluster, set_as_default=False), cluster, spec)
        except BaseException:
            cluster.close()
            raise
    check_reachable(address, timeout)
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise SchedulerUnreachable(
            f"cannot connect to the Dask scheduler at {address}: {exc}. Is it a Dask "
            "scheduler (not another service), and do client and scheduler run the same "
            "dask/distributed versions?") from None
    return Connection(client, None, spec)


# --------------------------------------------------------------------------------------
# what the engine asks (engine.run with a Dask executor)


def _client(executor):
    return executor._client


class InFlight:
    """Cells to keep submitted: twice the cluster's threads (at least 2), asked of the
    scheduler again every ``refresh_s`` seconds (workers join and leave)."""

    def __init__(self, executor, refresh_s: float = 2.0):
        self.client = _client(executor)
        self.refresh_s = refresh_s
        self._when = -float("inf")
        self._value = 2

    def __call__(self) -> int:
        now = time.monotonic()
        if now - self._when > self.refresh_s:
            self._when = now
            try:
                self._value = max(2, 2 * sum(self.client.nthreads().values()))
            except Exception:  # noqa: BLE001, S110 - scheduler briefly away: keep the last
                pass
        return self._value


class ConnectionCheck:
    """Raises :class:`SchedulerLost` once the client is no longer connected."""

    def __init__(self, executor):
        self.client = _client(executor)

    def __call__(self, finished: int = 0, total: int = 0) -> None:
        status = getattr(self.client, "status", "running")
        if status == "running":
            return
        where = getattr(getattr(self.client, "scheduler", None), "address", None) or "(unknown)"
        done = f"; {finished} of {total} cells had finished" if total else ""
        raise SchedulerLost(
            f"lost the connection to the Dask scheduler at {where} (client {status}){done}. "
            "Check that the scheduler is still running and reachable, then run again "
            "(validate keeps what finished: only the rest is loaded again)")


def map_tasks(tasks: list[engine.CellTask]) -> list[engine.CellTask]:
    """``tasks`` as sent to Dask workers: paths through the path map, the client's
    paths kept in ``client_paths``.  PathMapError when a path map is set and some
    paths match none of its rules."""
    from . import engine

    if not tasks:
        return []
    rules = tasks[0].settings.path_map
    pathmap = PathMap(rules)
    sent, unmatched, total = [], [], 0
    for task in tasks:
        row = dict(task.row)
        for tag, path in task.row.items():
            if engine._is_missing(path) or not pathmap:
                continue
            total += 1
            mapped = pathmap.apply(path)
            if mapped is None:
                unmatched.append(str(path))
            else:
                row[tag] = mapped
        sent.append(replace(task, row=row, client_paths=dict(task.row)))
    if unmatched:
        if len(unmatched) == total:
            raise PathMapError(
                f"the path map ({describe(rules)}) matched none of the {total} files to load, "
                f"e.g. {unmatched[0]}. FROM must be the start of the paths as this machine "
                "sees them (the experiment folder you opened)")
        shown = "; ".join(unmatched[:3]) + (f"; and {len(unmatched) - 3} more" if len(unmatched) > 3 else "")
        raise PathMapError(
            f"the path map ({describe(rules)}) matched no rule for {len(unmatched)} of "
            f"{total} files: {shown}. Add a rule for them (FROM=FROM when the workers see "
            "them at the same place)")
    return sent


def probe(executor, paths: list[str], *, cancel=None) -> tuple[str, list[bool]]:
    """Ask one worker whether it sees ``paths``: (its host name, exists per path)."""
    check = ConnectionCheck(executor)
    check()
    future = executor.submit(_visible, list(paths), pure=False)
    try:
        while not cf.wait([future], timeout=0.05).done:
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")
            check()
        try:
            return future.result()
        except (Exception, cf.CancelledError) as exc:
            check()
            raise RuntimeError(
                "the Dask workers could not run datakit's check before loading "
                f"({type(exc).__name__}: {exc}). Every worker needs datakit installed (the "
                "same version as here, with the same source plugins)") from exc
    finally:
        if not future.done():
            future.cancel()


def _visible(paths: list[str]) -> tuple[str, list[bool]]:
    """Runs on a worker."""
    return socket.gethostname(), [os.path.exists(p) for p in paths]


def _sample(tasks: list[engine.CellTask], sent: list[engine.CellTask], n: int) -> list[tuple[str, str]]:
    """Up to ``n`` (client path, worker path) pairs spread over the run, of files this
    machine sees (a file gone since discovery is the load's business, not the probe's)."""
    from . import engine

    pairs = []
    for task, out in zip(tasks, sent):
        for tag, path in task.row.items():
            if not engine._is_missing(path):
                pairs.append((str(path), str(out.row[tag])))
                break
    if len(pairs) > n > 1:
        step = (len(pairs) - 1) / (n - 1)
        pairs = [pairs[round(i * step)] for i in range(n)]
    return [(c, w) for c, w in pairs if os.path.exists(c)]


def prepare(tasks: list[engine.CellTask], executor, *, cancel=None) -> list[engine.CellTask]:
    """The tasks to send (path map applied), after checking that a worker sees their
    files.  Raises PathMapError before any work when the map does not fit the paths or a
    worker cannot see (mapped) files this machine sees."""
    sent = map_tasks(tasks)
    sample = _sample(tasks, sent, PROBE_FILES)
    if not sample:
        return sent
    host, seen = probe(executor, [w for _, w in sample], cancel=cancel)
    unseen = [(c, w) for (c, w), ok in zip(sample, seen) if not ok]
    if not unseen:
        return sent
    rules = tasks[0].settings.path_map
    client_path, worker_path = unseen[0]
    count = f"{len(unseen)} of {len(sample)} files checked" if len(sample) > 1 else "the file checked"
    if rules:
        raise PathMapError(
            f"Dask worker {host} cannot see {count}: {worker_path} (mapped from "
            f"{client_path} by {describe(rules)}) does not exist there. Check the path map "
            "and that the workers mount the share")
    raise PathMapError(
        f"Dask worker {host} cannot see {count}, e.g. {worker_path}. The workers must see "
        "the experiment folder; if they mount it at another path, give a path map "
        "(--path-map 'FROM=TO', e.g. 'Z:/lab=/mnt/lab', or Settings(path_map=...))")


def lost_cell(task: engine.CellTask, exc: BaseException) -> engine.CellResult:
    """The result of a cell whose task did not finish on the cluster: each of its files
    reported as failed (transient: not stored in the validation cache) with the reason."""
    from . import engine

    name = type(exc).__name__
    if name == "KilledWorker":
        message = ("the Dask worker loading this cell died, and so did the workers Dask "
                   "retried it on (distributed.scheduler.allowed-failures); the cell was not "
                   f"loaded. Check the workers' logs (memory limit?). {exc}")
    elif isinstance(exc, cf.CancelledError):
        message = ("the Dask scheduler dropped this cell's task (was the scheduler or the "
                   "connection to it lost?); the cell was not loaded")
    else:
        message = (f"the cell's task failed on the Dask cluster before loading "
                   f"({name}: {exc}); is datakit (same version, same plugins) installed on "
                   "every worker?")
    result = engine.CellResult(task.position)
    for tag in task.order:
        if tag not in task.active:
            continue
        path = task.row.get(tag)
        if engine._is_missing(path):
            result.outcomes.append(engine.LoadOutcome(tag, engine.STATUS_MISSING, None))
        else:
            result.outcomes.append(engine.LoadOutcome(
                tag, engine.STATUS_ERROR, str(path), name, message, None,
                RuntimeError(message) if task.mode == engine.MATERIALIZE else None,
                transient=True))
    return result
