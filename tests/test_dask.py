"""validate, materialize and save on Dask distributed (issue 11, point 5).

Every test here runs on the session's one LocalCluster (``dask_client`` in conftest.py:
two single-threaded worker processes) and a tiny demo experiment (1 subject, 1 session,
3 task cells, 20 s recordings).  Skipped when ``distributed`` is not installed.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import threading
import time
import warnings
from pathlib import Path

import pytest

pytest.importorskip("distributed")

import datakit
from datakit import cluster
from datakit.demo import generate
from datakit.pathmap import PathMapError
from datakit.sources.base import TABLE
from datakit.testing import assert_frames_equal

CRASH = "crash_test"


def _in_dask_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
        return True
    except (ImportError, ValueError):
        return False


class CrashSource(datakit.DataSource):
    """A test source whose file says how it misbehaves on a Dask worker.

    ``block``: write the worker process's id beside the file, then wait for a
    ``.release`` file (so a test can kill that process mid-load); ``die``: kill its own
    worker process, every time (outside a Dask worker it loads normally).
    """

    tag = CRASH
    patterns = ("*_crash.txt",)
    kind = TABLE
    description = "misbehaves on purpose (tests)"

    def load(self, path, *, context=None):
        mode = Path(path).read_text().strip()
        if mode == "block":
            Path(f"{path}.pid").write_text(str(os.getpid()))
            release = Path(f"{path}.release")
            deadline = time.monotonic() + 60
            while not release.exists():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{path}: never released")
                time.sleep(0.02)
        elif mode == "die" and _in_dask_worker():
            os.kill(os.getpid(), signal.SIGKILL)
        return self.stream([], {"mode": mode}, {"source_file": str(path)})


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("dask") / "exp", subjects=1, sessions=1,
                    duration=20.0, seed=5)


def _open(root, **kwargs) -> datakit.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)   # the demo's conflicts, cells never recorded
        return datakit.Dataset.from_directory(root, **kwargs)


@pytest.fixture(scope="module")
def ds(demo):
    return _open(demo.root, cache=False)


@pytest.fixture
def executor(dask_client):
    dask_client.wait_for_workers(2, timeout=60)   # back to two after a test killed one
    return dask_client.get_executor()


def _without_build_time(frame):
    frame = frame.copy()
    frame.attrs = {**frame.attrs, "datakit": {k: v for k, v in frame.attrs["datakit"].items()
                                              if k != "built_at"}}
    return frame


# --------------------------------------------------------------------------------------
# same results as a local run


def test_materialize_validate_and_save_on_a_cluster_equal_a_local_run(ds, executor, tmp_path):
    local, local_errors = ds.materialize(strict=False, return_errors=True, workers=1)
    remote, remote_errors = ds.materialize(strict=False, return_errors=True, executor=executor)
    assert local.shape[0] == 3 and local.shape[1] > 50
    assert_frames_equal(_without_build_time(remote), _without_build_time(local))
    assert remote_errors.equals(local_errors)
    # paths are reported as this machine spells them, also inside each stream's meta
    meta = remote[("dataqueue", "meta")].iloc[0]
    assert meta["source_file"] == ds.inventory["dataqueue"].iloc[0]

    report = ds.validate(executor=executor, use_cache=False)
    assert report.equals(ds.validate(workers=1, use_cache=False))
    assert (report["status"] == "error").sum() == 1          # the demo's broken file

    saved = ds.include(source=["dataqueue", "treadmill", "notes"]).save(
        tmp_path / "exp.pkl", executor=executor, strict=False)
    back = datakit.load_dataset(saved)
    expected = ds.include(source=["dataqueue", "treadmill", "notes"]).materialize(
        strict=False, workers=1)
    assert_frames_equal(_without_build_time(back), _without_build_time(expected))


# --------------------------------------------------------------------------------------
# workers that die


@pytest.fixture
def crash(ds, tmp_path):
    """A copy of the demo with a crash_test file in its first cell; returns a function
    (mode) -> (Dataset of the copy, the crash file)."""
    root = tmp_path / "exp"
    shutil.copytree(ds.roots[0], root)
    datakit.register_source(CrashSource)

    def make(mode: str):
        dq = Path(_open(root, cache=False).inventory["dataqueue"].iloc[0])
        path = dq.with_name(dq.name.replace("_dataqueue.csv", "_crash.txt"))
        path.write_text(mode)
        return _open(root, cache=True), path

    yield make
    datakit.unregister_source(CRASH)


def _worker_pids(client) -> set[int]:
    return set(client.run(os.getpid).values())


def test_a_worker_killed_mid_job_loses_nothing(crash, dask_client, executor):
    dataset, path = crash("block")
    pid_file = Path(f"{path}.pid")
    outcome = {}

    def run():
        try:
            outcome["frame"] = dataset.materialize(strict=False, executor=executor)
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    job = threading.Thread(target=run)
    job.start()
    deadline = time.monotonic() + 60
    while not pid_file.exists():                  # the crash cell is mid-load on a worker
        assert time.monotonic() < deadline and job.is_alive(), outcome
        time.sleep(0.02)
    pid = int(pid_file.read_text())
    assert pid in _worker_pids(dask_client) and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    Path(f"{path}.release").write_text("")        # the re-run of the cell may finish
    job.join(120)
    assert not job.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert pid not in _worker_pids(dask_client)   # that worker process is gone
    frame = outcome["frame"]
    assert frame[(CRASH, "mode")].iloc[0] == "block"     # the cell ran again elsewhere
    local = dataset.materialize(strict=False, workers=1)
    assert_frames_equal(_without_build_time(frame), _without_build_time(local))


def test_a_cell_that_kills_every_worker_is_reported_and_not_cached(crash, executor):
    dataset, _ = crash("die")
    dataset = dataset.head(2)                     # the crash cell and one other
    report = dataset.validate(executor=executor)
    crash_cell = report.iloc[0][["Subject", "Session", "Task"]].tolist()
    in_cell = (report[["Subject", "Session", "Task"]] == crash_cell).all(axis=1)
    lost = report[in_cell & (report["status"] != "missing")]
    assert len(lost) >= 2 and set(lost["status"]) == {"error"}
    assert set(lost["error_type"]) == {"KilledWorker"}
    assert all("worker loading this cell died" in m for m in lost["message"])
    other = report[~in_cell]
    assert len(other) and set(other["status"]) <= {"ok", "missing"}  # the job went on

    # not stored as broken: the next validation (here, in this process) loads that cell
    again = dataset.validate(workers=1)
    assert not again[in_cell & (again["status"] == "ok")]["cached"].any()
    assert again[in_cell & (again["Source"] == CRASH)]["status"].tolist() == ["ok"]
    assert again[~in_cell & (again["status"] == "ok")]["cached"].all()

    with pytest.raises(datakit.LoadError) as caught:   # strict: the reason, with context
        dataset.materialize(executor=executor)
    assert caught.value.error_type == "KilledWorker"
    assert caught.value.subject == crash_cell[0]


def test_a_lost_scheduler_ends_the_run_at_once_and_keeps_what_finished(crash):
    """Its own small cluster (one worker, two threads, in this process): the scheduler is
    closed while the crash cell blocks one thread and the other cells have finished."""
    import logging

    import dask
    import distributed

    dataset, path = crash("block")
    # short connect timeouts: the worker left behind gives up on its scheduler in 1 s
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                     silence_logs=logging.ERROR, **cluster.LOCAL_QUIET) as own:
        client = distributed.Client(own, set_as_default=False)
        outcome, finished = {}, set()
        others = {"/".join(key) for key in dataset.inventory.index[1:]}

        def run():
            try:
                outcome["report"] = dataset.validate(
                    executor=client.get_executor(),
                    progress=lambda done, total, message: finished.add(message))
            except BaseException as exc:  # noqa: BLE001 - checked below
                outcome["error"] = exc

        job = threading.Thread(target=run)
        job.start()
        deadline = time.monotonic() + 60
        # the crash cell blocks one thread while the two other cells finish on the other
        while not (Path(f"{path}.pid").exists() and others <= finished):
            assert time.monotonic() < deadline and job.is_alive(), (outcome, finished)
            time.sleep(0.02)
        own.sync(own.scheduler.close)
        job.join(30)
        Path(f"{path}.release").write_text("")      # let the worker thread go
        assert not job.is_alive(), "the run did not notice the lost scheduler"
        client.close()
    error = outcome.get("error")
    assert isinstance(error, cluster.SchedulerLost) and isinstance(error, ConnectionError)
    assert "lost the connection to the Dask scheduler at" in str(error)
    assert "2 of 3 cells had finished" in str(error)
    again = dataset.validate(workers=1)             # the finished cells were cached
    crash_cell = again[again["Source"] == CRASH][["Subject", "Session", "Task"]].iloc[0].tolist()
    in_cell = (again[["Subject", "Session", "Task"]] == crash_cell).all(axis=1)
    loaded = again["status"] != "missing"
    assert again[loaded & ~in_cell]["cached"].all() and not again[loaded & in_cell]["cached"].any()


# --------------------------------------------------------------------------------------
# the path map


def test_the_path_map_rewrites_the_paths_sent_to_workers(ds, executor, tmp_path):
    here = tmp_path / "Z" / "lab"               # where "this machine" saw the experiment
    there = tmp_path / "mnt" / "lab"            # where the workers see it
    shutil.copytree(ds.roots[0], here / "exp")
    opened = _open(here / "exp", cache=False).include(source=["dataqueue", "notes", "wheel"])
    (there.parent).mkdir(parents=True)
    (here).rename(there)                        # gone from "here": only a mapped path works
    mapped = opened.with_settings(path_map=f"{here}={there}")

    report = mapped.validate(executor=executor, use_cache=False)
    assert set(report["status"]) <= {"ok", "missing"} and (report["status"] == "ok").sum() >= 5
    frame = mapped.materialize(executor=executor)
    # reports and meta name the files as this machine does
    loaded = report[report["status"] == "ok"]["path"]
    assert all(str(p).startswith(str(here)) for p in loaded)
    assert frame[("dataqueue", "meta")].iloc[0]["source_file"].startswith(str(here))
    # a local run ignores the path map (the files are gone from here)
    local = mapped.validate(workers=1, use_cache=False)
    assert (local["status"] == "error").sum() == (report["status"] == "ok").sum()


def test_a_path_map_that_does_not_fit_fails_before_any_work(ds, executor, tmp_path):
    root = str(ds.roots[0])
    with pytest.raises(PathMapError, match=r"path map \(Z:/lab=/mnt/lab\) matched none of the \d+ files"):
        ds.with_settings(path_map="Z:/lab=/mnt/lab").validate(executor=executor, use_cache=False)
    one_cell = ds.inventory["notes"].iloc[0]
    with pytest.raises(PathMapError, match="matched no rule for") as caught:
        ds.with_settings(path_map={one_cell: one_cell}).materialize(executor=executor)
    assert "Add a rule" in str(caught.value)
    # every path matched, but the mapped files are not there on the workers
    nowhere = str(tmp_path / "nowhere")
    with pytest.raises(PathMapError) as caught:
        ds.with_settings(path_map=[(root, nowhere)]).materialize(executor=executor)
    text = str(caught.value)
    assert f"{nowhere}/" in text and f"(mapped from {root}/" in text
    assert "does not exist there" in text and socket.gethostname() in text


def test_a_file_a_worker_cannot_see_is_reported_not_cached(ds, executor, tmp_path):
    here, there = tmp_path / "here", tmp_path / "there"
    shutil.copytree(ds.roots[0], here)
    shutil.copytree(ds.roots[0], there)
    opened = _open(here, cache=True).include(source=["dataqueue", "notes"])
    gone = Path(opened.inventory["notes"].iloc[1])
    (there / gone.relative_to(here)).unlink()    # the workers' copy lacks one file
    mapped = opened.with_settings(path_map={str(here): str(there)})
    report = mapped.validate(executor=executor)
    row = report[report["path"] == str(gone)].iloc[0]
    assert row["status"] == "error" and row["error_type"] == "NotOnWorker"
    assert "does not exist on Dask worker" in row["message"]
    assert str(there) in row["message"] and f"translation of {gone}" in row["message"]
    assert (report["status"] == "error").sum() == 1
    again = opened.validate(workers=1)           # loaded again (and fine here), not cached
    row = again[again["path"] == str(gone)].iloc[0]
    assert row["status"] == "ok" and not row["cached"]
    assert again[again["path"] != str(gone)].query("status == 'ok'")["cached"].all()


# --------------------------------------------------------------------------------------
# connecting


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def no_dask_client(monkeypatch):
    """Fails the test if a Dask Client is created: an unreachable address must be caught
    by datakit's quick TCP check, not by Dask's connect, which retries until its timeout."""
    import distributed

    def refuse(*args, **kwargs):
        raise AssertionError("a Dask Client was created for an unreachable scheduler")

    monkeypatch.setattr(distributed, "Client", refuse)


def test_connect_checks_what_it_is_given(dask_client, no_dask_client):
    port = _free_port()
    with pytest.raises(cluster.SchedulerUnreachable) as caught:
        cluster.connect(f"127.0.0.1:{port}")
    assert f"tcp://127.0.0.1:{port}" in str(caught.value) and "refused" in str(caught.value)
    with pytest.raises(cluster.SchedulerUnreachable, match="unknown"):
        cluster.connect("no-such-host.invalid:8786")
    for bad in ("local:0", "local:-2", "local:x"):
        with pytest.raises(ValueError, match="local:"):
            cluster.connect(bad)
    assert cluster.normalise_address("sched") == "tcp://sched:8786"
    assert cluster.normalise_address("sched:9000") == "tcp://sched:9000"
    assert cluster.normalise_address("tls://sched:9000") == "tls://sched:9000"


def test_connect_to_a_running_scheduler(dask_client):
    with cluster.connect(dask_client.scheduler.address) as connection:
        assert not connection.local
        assert "2 workers" in connection.describe()
        assert connection.address == dask_client.scheduler.address


# --------------------------------------------------------------------------------------
# the command line


def _cli(capsys, *args) -> tuple[int, str, str]:
    from datakit.cli import main

    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_validate_on_a_running_scheduler_reports_as_a_local_run(ds, dask_client, capsys):
    root = ds.roots[0]
    address = dask_client.scheduler.address
    status, remote, err = _cli(capsys, "validate", root, "--scheduler", address, "--no-cache",
                               "--format", "csv")
    assert status == 1, err                       # the demo's one broken file
    assert f"loading on the Dask scheduler at {address} (2 workers, 2 threads)" in err
    status, local, _ = _cli(capsys, "validate", root, "--workers", "1", "--no-cache",
                            "--format", "csv")
    assert status == 1 and remote == local and remote.count("\n") > 20


def test_cli_build_on_a_local_cluster(ds, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "exp.pkl"
    done = subprocess.run(
        [sys.executable, "-m", "datakit", "build", str(ds.roots[0]), "--scheduler", "local:1",
         "--exclude-task", "widefield", "-o", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    assert "loading on a local Dask cluster (1 worker, 1 thread)" in done.stderr
    assert "Traceback" not in done.stderr
    expected = ds.exclude(task="task-widefield").materialize(workers=1)
    assert_frames_equal(_without_build_time(datakit.load_dataset(out)),
                        _without_build_time(expected))


def test_cli_an_unreachable_scheduler_exits_2_before_anything_is_opened(capsys, tmp_path,
                                                                        no_dask_client):
    port = _free_port()
    status, _, err = _cli(capsys, "validate", tmp_path / "not-opened-yet", "--scheduler",
                          f"127.0.0.1:{port}")
    assert status == 2
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in err
    assert "Is the scheduler running" in err and "not-opened-yet" not in err


def test_cli_bad_scheduler_and_path_map_options_exit_2_before_any_work(ds, dask_client, capsys,
                                                                      tmp_path):
    root = ds.roots[0]
    cases = [
        (["--scheduler", "local:0"], "local:0: a local cluster needs at least 1 worker"),
        (["--scheduler", "local:many"], "expected local:N"),
        (["--scheduler", "local:2", "--path-map", "Z:/lab"], "has no '='"),
        (["--scheduler", "local:2", "--path-map", "Z:/lab="], "TO (after '=') is empty"),
        (["--path-map", "Z:/lab=/mnt/lab"], "give --scheduler ADDRESS (or local:N) too"),
        (["--scheduler", dask_client.scheduler.address, "--workers", "2"],
         "with --scheduler the cluster's workers load"),
        (["--scheduler", dask_client.scheduler.address, "--path-map", "Z:/lab=/mnt/lab"],
         "path map (Z:/lab=/mnt/lab) matched none of the"),
    ]
    for options, fragment in cases:
        for command in ("validate", "build"):
            extra = ["-o", tmp_path / "x.pkl"] if command == "build" else []
            status, _, err = _cli(capsys, command, root, *options, *extra, "--no-cache")
            errors = [line for line in err.splitlines() if "error:" in line]
            assert status == 2 and len(errors) == 1, (options, err)
            assert fragment in errors[0], (options, errors[0])
            assert "Traceback" not in err
    assert not (tmp_path / "x.pkl").exists()


def test_cli_without_distributed_says_what_to_install(ds, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)     # as if not installed
    status, _, err = _cli(capsys, "validate", ds.roots[0], "--scheduler", "local:2")
    assert status == 2 and "pip install 'datakit[distributed]'" in err
    assert "Traceback" not in err
