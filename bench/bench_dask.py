"""Dask benchmark: materialize on this machine's process pool vs on a Dask LocalCluster.

    python bench/bench_dask.py [--sessions 4] [--duration 300] [--workers 2] [--tiny 120] [--keep DIR]

Prints figures; asserts nothing.  Both runs use the same number of worker processes
(``--workers``, one thread each), so the difference is Dask's own cost: scheduling,
pickling each cell's task and result through the scheduler's TCP comms, and the probe.
Measured:

* the LocalCluster's start and stop (``datakit build --scheduler local:N`` pays it);
* materialize of ``--sessions`` generated sessions (3 task cells each) both ways (best
  of 2; the first Dask run also warms the workers' imports);
* overhead per cell: ``--tiny`` cells loading one tiny file each (the notes), where
  loading costs nearly nothing, so the time per cell is the executor's overhead.

"local" starts a new process pool per call, as ``datakit build`` does; "pool" reuses
one started beforehand, as the desktop app does (the fair base for Dask's overhead,
whose workers are also started beforehand).
"""
from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import warnings
from pathlib import Path


def _open(root):
    import datakit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return datakit.Dataset.from_directory(root, cache=False)


def _best(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tiny", type=int, default=120, help="cells for the per-cell overhead")
    parser.add_argument("--keep", type=Path, help="reuse/keep generated data in this folder")
    args = parser.parse_args()

    import distributed

    from datakit import cluster
    from datakit.demo import generate
    from datakit.testing import frames_equal

    base = args.keep or Path(tempfile.mkdtemp(prefix="datakit-bench-dask-"))
    big, tiny = base / f"big-{args.sessions}x{args.duration:g}", base / f"tiny-{args.tiny}"
    if not big.exists():
        generate(big, subjects=args.sessions, sessions=1, duration=args.duration, seed=1)
    if not tiny.exists():
        generate(tiny, subjects=max(1, args.tiny // 3), sessions=1, duration=20.0, seed=2)
    ds = _open(big)
    cells = _open(tiny).include(source="notes")
    size_mb = sum(p.stat().st_size for p in big.rglob("*") if p.is_file()) / 2**20
    figures = {"workers": args.workers, "sessions": args.sessions, "cells": len(ds),
               "duration_s": args.duration, "data_mb": round(size_mb, 1),
               "tiny_cells": len(cells)}

    from datakit.engine import make_executor

    local_s, local = _best(lambda: ds.materialize(strict=False, workers=args.workers), 2)
    tiny_local_s, _ = _best(lambda: cells.materialize(strict=False, workers=args.workers), 3)
    pool = make_executor(args.workers)
    cells.head(1).materialize(executor=pool)                # starts the pool's processes
    pool_s, _ = _best(lambda: ds.materialize(strict=False, executor=pool), 2)
    tiny_pool_s, _ = _best(lambda: cells.materialize(strict=False, executor=pool), 3)
    pool.shutdown()

    started = time.perf_counter()
    local_cluster = distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                             processes=True, silence_logs=logging.ERROR,
                                             **cluster.LOCAL_QUIET)
    client = distributed.Client(local_cluster, set_as_default=False)
    figures["cluster_start_s"] = round(time.perf_counter() - started, 2)
    executor = client.get_executor()
    started = time.perf_counter()
    cells.head(1).materialize(executor=executor)           # warms the workers' imports
    figures["first_job_warmup_s"] = round(time.perf_counter() - started, 2)
    dask_s, remote = _best(lambda: ds.materialize(strict=False, executor=executor), 2)
    tiny_dask_s, _ = _best(lambda: cells.materialize(strict=False, executor=executor), 3)
    started = time.perf_counter()
    client.close()
    local_cluster.close()
    figures["cluster_stop_s"] = round(time.perf_counter() - started, 2)

    for frame in (local, remote):
        frame.attrs["datakit"].pop("built_at", None)
    figures.update({
        "materialize_local_s": round(local_s, 2),
        "materialize_pool_s": round(pool_s, 2),
        "materialize_dask_s": round(dask_s, 2),
        "dask_vs_pool": round(dask_s / pool_s, 2),
        "frames_equal": bool(frames_equal(local, remote)),
        "per_cell_local_ms": round(1000 * tiny_local_s / len(cells), 2),
        "per_cell_pool_ms": round(1000 * tiny_pool_s / len(cells), 2),
        "per_cell_dask_ms": round(1000 * tiny_dask_s / len(cells), 2),
        "dask_overhead_per_cell_ms": round(1000 * (tiny_dask_s - tiny_pool_s) / len(cells), 2),
    })
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
