"""Library benchmark: discovery vs a bare scandir walk, materialize throughput, peak memory,
NWB export of one 20-minute cell.

    python bench/bench_library.py [--files 100000] [--sessions 4] [--duration 1200]
                                  [--save-sessions 100] [--only save ...] [--keep DIR]

Prints figures; asserts nothing.  Each measurement runs in a fresh Python process so
its peak memory (ru_maxrss, plus its worker processes) is its own.  Data come from
``datakit.demo`` (the same generator the tests and the GUI demo use).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path


class PeakMemory:
    """Samples the RSS of this process and all its descendants (worker processes)."""

    def __init__(self, interval_s: float = 0.02):
        import threading

        import psutil

        self._me = psutil.Process()
        self._stop = threading.Event()
        self.own = self.total = 0
        self._thread = threading.Thread(target=self._run, args=(interval_s,), daemon=True)
        self._thread.start()

    def _run(self, interval_s):
        import psutil

        while not self._stop.is_set():
            try:
                own = self._me.memory_info().rss
                kids = 0
                for child in self._me.children(recursive=True):
                    try:
                        # the fork server and resource tracker are idle helpers; the
                        # pool's workers are the fork server's children
                        helper = child.ppid() == self._me.pid and "multiprocessing." in " ".join(child.cmdline())
                        if not helper:
                            kids += child.memory_info().rss
                    except psutil.Error:
                        continue
                self.own, self.total = max(self.own, own), max(self.total, own + kids)
            except psutil.Error:
                pass
            self._stop.wait(interval_s)

    def result(self) -> dict:
        self._stop.set()
        self._thread.join()
        return {"peak_rss_mb": round(self.own / 2**20, 1),
                "peak_tree_rss_mb": round(self.total / 2**20, 1)}


def bare_walk(root: str) -> int:
    n, stack = 0, [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir():
                    stack.append(entry.path)
                else:
                    n += 1
    return n


def phase_discovery(root: str, repeats: int = 5) -> dict:
    """Bare walk, a cold open (cache=False), the first open with an empty index and
    re-opens of the unchanged tree (best of ``repeats`` each, interleaved)."""
    import shutil
    import warnings

    import datakit
    from datakit import index as dkindex
    from datakit.discovery import walk
    from datakit.sources.registry import registered_sources

    cache = tempfile.mkdtemp(prefix="datakit-bench-cache-")
    os.environ["DATAKIT_CACHE_DIR"] = cache
    registry = registered_sources()
    memory = PeakMemory()
    times: dict[str, list] = {"bare": [], "walk": [], "cold": [], "reopen": []}

    def opened(**kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return datakit.Dataset.from_directory(root, **kwargs)

    t = time.perf_counter()
    first = opened()
    first_open = time.perf_counter() - t
    for _ in range(repeats):
        t = time.perf_counter()
        n = bare_walk(root)
        times["bare"].append(time.perf_counter() - t)
        t = time.perf_counter()
        found = walk(root, registry)
        times["walk"].append(time.perf_counter() - t)
        t = time.perf_counter()
        ds = opened(cache=False)
        times["cold"].append(time.perf_counter() - t)
        t = time.perf_counter()
        again = opened()
        times["reopen"].append(time.perf_counter() - t)
    assert again.inventory.equals(ds.inventory) and first.inventory.equals(ds.inventory)
    dkindex.shared().close()
    shutil.rmtree(cache, ignore_errors=True)
    best = {k: min(v) for k, v in times.items()}
    return {"files": n, "matched": len(found.files), "cells": len(ds),
            "bare_scandir_s": best["bare"], "discovery_walk_s": best["walk"],
            "from_directory_s": best["cold"], "first_open_s": first_open,
            "reopen_s": best["reopen"], **memory.result()}


def phase_materialize(root: str, workers: int, parallel: str, repeats: int = 2) -> dict:
    import datakit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = datakit.Dataset.from_directory(root)
    memory = PeakMemory()
    paths = {p for col in ds.inventory.columns for p in ds.inventory[col].dropna()}
    size = sum(os.path.getsize(p) for p in paths if os.path.isfile(p))
    size += sum(f.stat().st_size for p in paths if os.path.isfile(p) and p.endswith("F.npy")
                for f in Path(p).parent.glob("*.npy") if f.name != "F.npy")
    best = None
    for _ in range(repeats):
        t = time.perf_counter()
        df = ds.materialize(workers=workers, parallel=parallel, strict=False)
        elapsed = time.perf_counter() - t
        best = elapsed if best is None else min(best, elapsed)
    return {"cells": len(ds), "input_mb": size / 2**20, "seconds": best,
            "cells_per_s": len(ds) / best, "mb_per_s": size / 2**20 / best,
            "frame_shape": list(df.shape), **memory.result()}


def phase_one_session(root: str) -> dict:
    """The DESIGN goal: one 20-minute session on one core, broken down by source."""
    import datakit
    from datakit.engine import MATERIALIZE, iter_loads

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = datakit.Dataset.from_directory(root).head(1)
    memory = PeakMemory()
    task = ds._tasks(MATERIALIZE)[0][0]
    times = {}
    t0 = time.perf_counter()
    last = t0
    for tag, _, _, exc in iter_loads(task):
        now = time.perf_counter()
        times[tag] = round(now - last, 4) if exc is None else f"error: {exc}"
        last = now
    total = time.perf_counter() - t0
    t = time.perf_counter()
    ds.materialize(workers=1)
    return {"cell": list(task.key), "load_s": total, "materialize_s": time.perf_counter() - t,
            "per_source_s": times, **memory.result()}


def phase_nwb(root: str) -> dict:
    """NWB export (issue 13): one 20-minute cell to one NWB file, in one process."""
    import shutil
    import tempfile

    import datakit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = datakit.Dataset.from_directory(root, cache=False).head(1)
    t = time.perf_counter()
    ds.materialize(workers=1)
    materialize = time.perf_counter() - t
    runs = []
    for _ in range(3):
        out = tempfile.mkdtemp(prefix="datakit-bench-nwb-")
        t = time.perf_counter()
        paths, report = ds.to_nwb(out, workers=1)
        runs.append(time.perf_counter() - t)
        size = paths[0].stat().st_size
        shutil.rmtree(out)
    return {"cell": list(ds.inventory.index[0]), "export_s": min(runs), "export_runs_s": runs,
            "materialize_s": materialize, "file_mb": size / 2**20,
            "exported": int((report["status"] == "exported").sum()),
            "left_out": int((report["status"] == "left out").sum())}


def phase_expectations(folder: str, n_cells: int = 10_000) -> dict:
    """coverage() / missing() on n_cells x 14 sources with a protocol and a manifest."""
    import json as json_module

    import numpy as np
    import pandas as pd

    import datakit
    from datakit.demo import TAGS
    from datakit.expectations import Expectations
    from datakit.manifest import read_manifest
    from datakit.protocol import Protocol

    rng = np.random.default_rng(0)
    tasks = ("task-widefield", "task-gratings", "task-movies")
    keys = [(f"S{i // 60:04d}", f"ses-{i // 3 % 20 + 1:02d}", tasks[i % 3]) for i in range(n_cells + 300)]
    index = pd.MultiIndex.from_tuples(keys, names=["Subject", "Session", "Task"])
    present = rng.random((len(keys), len(TAGS))) < 0.7
    paths = np.where(present, np.char.add(f"{folder}/data/f", np.arange(present.size).reshape(present.shape).astype(str)),
                     None).astype(object)
    inventory = pd.DataFrame(paths, index=index, columns=list(TAGS), dtype=object)
    inventory = inventory.where(inventory.notna(), np.nan).iloc[:n_cells]  # 100 sessions lack a task
    listed = inventory.sample(frac=0.5, random_state=0)
    entries = [{"tag": tag, "path": f"data/sub-{s}/{ses}/{s}_{ses}_{t}_{tag}.x", "subject": s,
                "session": ses, "task": t}
               for (s, ses, t), row in zip(listed.index, listed.to_numpy()) for tag, v in zip(TAGS, row)
               if isinstance(v, str)]
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / "manifest.json").write_text(json_module.dumps({"entries": entries}))
    registry = datakit.registered_sources()
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        manifest = read_manifest(folder, registry)
    read_s = time.perf_counter() - t
    protocol = Protocol({"task-widefield": TAGS[:8], "task-gratings": TAGS[:5]}, tasks)
    times = {}
    for label in ("cold", "warm"):
        if label == "cold":
            ds = datakit.Dataset(inventory, expectations=Expectations(
                inventory, list(registry), protocol=protocol, manifest=manifest))
        t = time.perf_counter()
        cov = ds.coverage()
        times[f"coverage_{label}_s"] = time.perf_counter() - t
        t = time.perf_counter()
        missing = ds.missing()
        times[f"missing_{label}_s"] = time.perf_counter() - t
    return {"cells": len(cov), "sources": cov.shape[1], "missing": len(missing),
            "manifest_entries": len(entries), "read_manifest_s": read_s, **times}


def phase_save(root: str, n_cells: int, workers: int, out: str) -> dict:
    """Dataset.save(.h5) of the first ``n_cells`` cells: peak RSS of the process tree
    (this process + its pool) while cells stream to disk."""
    import datakit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = datakit.Dataset.from_directory(root).head(n_cells)
    paths = {p for col in ds.inventory.columns for p in ds.inventory[col].dropna()}
    size = sum(os.path.getsize(p) for p in paths if os.path.isfile(p))
    memory = PeakMemory()
    t = time.perf_counter()
    ds.save(out, workers=workers, strict=False)
    elapsed = time.perf_counter() - t
    return {"cells": len(ds), "input_mb": size / 2**20, "seconds": elapsed,
            "file_mb": os.path.getsize(out) / 2**20, **memory.result()}


def phase_frame_size(path: str) -> dict:
    """The size the materialized frame of a saved file would have in memory
    (datakit.profile's estimate), measured one source at a time."""
    import datakit
    from datakit.profile import profile_materialized

    saved = datakit.open_dataset(path)
    total = None
    for source in saved.sources:
        report = profile_materialized(saved.load(source=source), top_n_cells=0)
        if total is None:
            total = report.index_bytes
        total += sum(c.estimated_total_bytes for c in report.columns) + report.columns_index_bytes
    return {"frame_mb": (total or 0) / 2**20, "shape": list(saved.shape)}


def phase_open(path: str, repeats: int = 5) -> dict:
    """open_dataset: the header (index, columns), one cell, one source of every cell."""
    import datakit

    def best(fn):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            value = fn()
            times.append(time.perf_counter() - t)
        return min(times), value

    open_s, saved = best(lambda: datakit.open_dataset(path))     # .index, .columns: in memory
    key = saved.index[len(saved.index) // 2]
    cell_s, row = best(lambda: saved.cell(key))
    source_s, part = best(lambda: saved.load(source="treadmill"))
    return {"open_s": open_s, "cell_s": cell_s,
            "cell_columns": row.shape[1], "source_s": source_s, "source_shape": list(part.shape)}


def run_phase(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--phase", *args], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


SECTIONS = ("discovery", "expectations", "one", "nwb", "materialize", "save")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--reopen-files", type=int, default=54_000,
                        help="a second, smaller tree (the size the re-open goal names)")
    parser.add_argument("--sessions", type=int, default=4, help="20-minute sessions to materialize")
    parser.add_argument("--duration", type=float, default=1200.0)
    parser.add_argument("--save-sessions", type=int, default=100,
                        help="20-minute sessions to save to HDF5 (0: skip)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="run only these sections")
    parser.add_argument("--keep", type=Path, help="reuse/keep generated data in this folder")
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        name, *rest = args.phase
        if name == "discovery":
            result = phase_discovery(rest[0])
        elif name == "materialize":
            result = phase_materialize(rest[0], int(rest[1]), rest[2])
        elif name == "expectations":
            result = phase_expectations(rest[0])
        elif name == "nwb":
            result = phase_nwb(rest[0])
        elif name == "save":
            result = phase_save(rest[0], int(rest[1]), int(rest[2]), rest[3])
        elif name == "frame_size":
            result = phase_frame_size(rest[0])
        elif name == "open":
            result = phase_open(rest[0])
        else:
            result = phase_one_session(rest[0])
        print(json.dumps(result))
        return

    from datakit import demo
    from datakit.engine import default_workers

    base = args.keep or Path(tempfile.mkdtemp(prefix="datakit-bench-"))
    tree, small, sessions = base / "tree", base / "tree-small", base / "sessions"
    only = set(args.only)
    for folder, size in ((tree, args.files), (small, args.reopen_files)):
        if "discovery" in only and not folder.exists():
            t = time.perf_counter()
            n = demo.generate_file_tree(folder, size)
            print(f"generated {n} files in {time.perf_counter() - t:.1f} s")
    if only & {"one", "materialize", "nwb"} and not sessions.exists():
        t = time.perf_counter()
        demo.generate(sessions, subjects=args.sessions, sessions=1, tasks=("widefield",),
                      duration=args.duration, missing=False, broken=False)
        print(f"generated {args.sessions} x {args.duration:.0f} s widefield sessions "
              f"in {time.perf_counter() - t:.1f} s")

    cores = default_workers()
    print(f"\nmachine: {cores} cores, Python {sys.version.split()[0]}")
    for size, folder in ((args.reopen_files, small), (args.files, tree)) if "discovery" in only else ():
        d = run_phase(["discovery", str(folder)])
        bare = d["bare_scandir_s"]
        print(f"\n== discovery of {d['files']:,} files ({d['matched']:,} matched, {d['cells']:,} cells), "
              "best of 5 ==")
        print(f"  bare os.scandir walk            {bare:.3f} s")
        print(f"  datakit discovery walk          {d['discovery_walk_s']:.3f} s  "
              f"({d['discovery_walk_s'] / bare:.2f}x bare)")
        print(f"  from_directory(cache=False)     {d['from_directory_s']:.3f} s  "
              f"({d['from_directory_s'] / bare:.2f}x bare; walk + inventory + treadmill's look "
              f"into {d['cells']:,} dataqueues)")
        print(f"  first open, empty index         {d['first_open_s']:.3f} s  (walk + writing the index)")
        print(f"  re-open, unchanged tree         {d['reopen_s']:.3f} s  ({d['reopen_s'] / bare:.2f}x bare)")
        print(f"  peak RSS {d['peak_rss_mb']:.0f} MB")

    if "expectations" in only:
        print_expectations(run_phase(["expectations", str(base / "expectations")]))
    if "one" in only:
        print_one(run_phase(["one", str(sessions)]), args)
    if "nwb" in only:
        print_nwb(run_phase(["nwb", str(sessions)]), args)
    if "materialize" in only:
        print_materialize(sessions, cores, args)
    if "save" in only and args.save_sessions:
        print_save(base, cores, args)
    if not args.keep:
        print(f"\n(data in {base}; pass --keep DIR to reuse it)")


def print_expectations(e: dict) -> None:
    print(f"\n== what is missing: {e['cells']:,} cells x {e['sources']} sources, datakit.toml + "
          f"a manifest of {e['manifest_entries']:,} entries ==")
    print(f"  read manifest.json        {e['read_manifest_s']:.3f} s")
    print(f"  coverage()  first call    {e['coverage_cold_s']:.3f} s  (all three rules applied)")
    print(f"  missing()                 {e['missing_cold_s']:.3f} s  ({e['missing']:,} rows)")
    print(f"  coverage(), missing() again {e['coverage_warm_s']:.3f} s, {e['missing_warm_s']:.3f} s")


def print_one(one: dict, args) -> None:
    print(f"\n== one {args.duration:.0f}-s session, one core ==")
    print(f"  loading all sources {one['load_s']:.3f} s; materialize {one['materialize_s']:.3f} s")
    print("  per source: " + ", ".join(f"{k} {v}" for k, v in one["per_source_s"].items()))
    print(f"  peak RSS {one['peak_rss_mb']:.0f} MB")



def print_nwb(nwb: dict, args) -> None:
    print(f"\n== NWB export: one {args.duration:.0f}-s cell to one file, one process (best of 3) ==")
    print(f"  to_nwb {nwb['export_s']:.2f} s (materialize alone {nwb['materialize_s']:.2f} s; "
          f"the rest builds and writes the file); {nwb['file_mb']:.1f} MB; "
          f"{nwb['exported']} features exported, {nwb['left_out']} left out (see the report)")


def print_materialize(sessions: Path, cores: int, args) -> None:
    print(f"\n== materialize {args.sessions} sessions (best of 2) ==")
    rows = [("workers=1", ["1", "process"])]
    if cores > 1:
        rows += [(f"workers={cores} processes", [str(cores), "process"]),
                 (f"workers={cores} threads", [str(cores), "thread"])]
    for label, extra in rows:
        m = run_phase(["materialize", str(sessions), *extra])
        print(f"  {label:24s} {m['seconds']:.2f} s  {m['cells_per_s']:.2f} cells/s  "
              f"{m['mb_per_s']:.0f} MB/s of {m['input_mb']:.0f} MB  "
              f"peak RSS {m['peak_rss_mb']:.0f} MB (with workers {m['peak_tree_rss_mb']:.0f} MB)")


def print_save(base: Path, cores: int, args) -> None:
    """Streamed HDF5 saves of 10 and N sessions: peak memory stays flat while the frame
    (never built) grows with the sessions."""
    n = args.save_sessions
    root = base / f"saves-{n}"
    if not root.exists():
        from datakit import demo

        t = time.perf_counter()
        demo.generate(root, subjects=n, sessions=1, tasks=("widefield",), duration=args.duration,
                      missing=False, broken=False)
        print(f"\ngenerated {n} x {args.duration:.0f} s widefield sessions in "
              f"{time.perf_counter() - t:.1f} s")
    print(f"\n== Dataset.save(.h5) of {args.duration:.0f}-s sessions, {cores} worker processes ==")
    for cells in sorted({min(10, n), n}):
        out = base / f"saved-{cells}.h5"
        s = run_phase(["save", str(root), str(cells), str(cores), str(out)])
        f = run_phase(["frame_size", str(out)])
        print(f"  {cells:4d} sessions: {s['seconds']:.1f} s ({s['cells'] / s['seconds']:.2f} cells/s, "
              f"{s['input_mb'] / s['seconds']:.0f} MB/s of {s['input_mb']:.0f} MB input, "
              f"{f['frame_mb'] / s['seconds']:.0f} MB/s of frame); file {s['file_mb']:.0f} MB")
        print(f"       peak RSS {s['peak_rss_mb']:.0f} MB, with workers {s['peak_tree_rss_mb']:.0f} MB; "
              f"the materialized frame ({f['shape'][0]} x {f['shape'][1]}) would take "
              f"{f['frame_mb']:.0f} MB")
    o = run_phase(["open", str(base / f"saved-{n}.h5")])
    print(f"\n== datakit.open_dataset on the {n}-session file (best of 5) ==")
    print(f"  open_dataset (reads the header: .index, .columns, .attrs) {o['open_s'] * 1e3:.1f} ms")
    print(f"  .cell(key) {o['cell_s'] * 1e3:.0f} ms ({o['cell_columns']} columns); "
          f".load(source='treadmill') {o['source_s'] * 1e3:.0f} ms ({o['source_shape'][0]} x "
          f"{o['source_shape'][1]})")


if __name__ == "__main__":
    main()
