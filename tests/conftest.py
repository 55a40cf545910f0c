"""Shared test setup: Qt offscreen, the lab's sample data, generated experiments."""
from __future__ import annotations

import os
from pathlib import Path

# Before anything imports Qt: no display in CI.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import tempfile  # noqa: E402

# the per-user index (datakit.index) goes to a throw-away folder, never the user's cache;
# subprocesses (the CLI tests) inherit it
os.environ["DATAKIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="datakit-test-cache-")

import pytest  # noqa: E402

SAMPLE_DATA = Path(os.environ.get(
    "DATAKIT_SAMPLE_DATA", Path(__file__).resolve().parents[2] / "shared" / "sample_data"))


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """../shared/sample_data beside the checkout; tests using it skip when absent."""
    if not (SAMPLE_DATA / "sample_experiment1").is_dir():
        pytest.skip(f"lab sample data not found at {SAMPLE_DATA}")
    return SAMPLE_DATA


@pytest.fixture(scope="session")
def sample_experiment1(sample_data) -> Path:
    return sample_data / "sample_experiment1"


@pytest.fixture(scope="session")
def sample_experiment2(sample_data) -> Path:
    return sample_data / "sample_experiment2"


@pytest.fixture(scope="session")
def dask_client():
    """One Dask LocalCluster (2 single-threaded worker processes, no dashboard) shared by
    every test that runs on Dask; skipped when ``distributed`` is not installed.

    ``allowed-failures: 1``: a task is given up (KilledWorker) once two workers died
    running it, so the tests that kill workers stay short.
    """
    distributed = pytest.importorskip("distributed")
    import logging

    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},   # not 8787: it may be taken
            silence_logs=logging.ERROR)
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()
