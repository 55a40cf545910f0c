"""GUI benchmarks (not tests): prints the figures of DESIGN.md's GUI performance goals.

    python bench/bench_gui.py            # offscreen unless a display is set
    python bench/bench_gui.py 5          # only the listed figures (1-5)
    xvfb-run -a python bench/bench_gui.py

1. time from process start to the main window shown (a fresh interpreter, imports included);
2. the coverage heatmap of 10,000 cells x 14 sources: coverage build, heatmap draw, and a
   filter change (tree + heatmap follow);
3. the longest event-loop stall while a materialize runs (a 5 ms QTimer probe);
4. frame time while panning a 10-million-point stream (clip-to-view + peak downsampling);
5. switching the plot to another 20-minute cell once its data has arrived (the streams
   handed to AppState as the load job does, until the plot is laid out and painted), per
   demo task kind, with what is drawn by default; and toggling a feature;
6. closing the app while a materialize of 20-minute cells runs: until the window is gone,
   and until the process has exited (a fresh interpreter, as a user runs it).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

import numpy as np
import pandas as pd

GOALS = {"shown": 1.5, "heatmap": 0.100, "stall": 0.050, "switch": 0.300, "close": 2.0}

STARTUP = r"""
import time, sys
t0 = float(sys.argv[1])
from PySide6.QtWidgets import QApplication
from PySide6.QtCore import QTimer
app = QApplication([])
from datakit_gui.app import configure_pyqtgraph
configure_pyqtgraph()
from datakit_gui.main_window import MainWindow
from PySide6.QtCore import QSettings
import tempfile, os
w = MainWindow(settings=QSettings(os.path.join(tempfile.mkdtemp(), "s.ini"), QSettings.Format.IniFormat))
w.show()
def shown():
    app.processEvents()
    w.repaint()
    print(f"{time.time() - t0:.3f}", flush=True)
    w.close()
    app.quit()
QTimer.singleShot(0, shown)
app.exec()
"""


CLOSING = r"""
import os, sys, tempfile, time, warnings
warnings.simplefilter("ignore")
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from datakit_gui.main_window import MainWindow
w = MainWindow(settings=QSettings(os.path.join(tempfile.mkdtemp(), "s.ini"), QSettings.Format.IniFormat))
w.show()
marks = {}
def opened():
    w.state.dataset_changed.disconnect(opened)
    w.jobs.progressed.connect(progressed)
    w.actions["materialize"].trigger()
def progressed(job, done, total, message):
    if done and "close" not in marks:       # cells are loading in the worker processes
        marks["close"] = time.perf_counter()
        print("closing", done, total, flush=True)
        QTimer.singleShot(int(float(sys.argv[2]) * 1000), w.close)
def destroyed_or_hidden():
    if "close" in marks and not w.isVisible() and "gone" not in marks:
        marks["gone"] = time.perf_counter()
        print(f"window gone {marks['gone'] - marks['close'] - float(sys.argv[2]):.3f}", flush=True)
        app.quit()
poll = QTimer(); poll.timeout.connect(destroyed_or_hidden); poll.start(5)
w.state.dataset_changed.connect(opened)
w.open_roots([sys.argv[1]])
app.exec()
print("event loop left", flush=True)
"""


def bench_closing(root: Path, after: float = 1.0, repeats: int = 3) -> list[tuple[float, float]]:
    """Close while a materialize runs: (until the window is gone, until the process exited)."""
    runs = []
    for _ in range(repeats):
        proc = subprocess.Popen([sys.executable, "-c", CLOSING, str(root), str(after)],
                                stdout=subprocess.PIPE, text=True)
        closed_at = gone = None
        for line in proc.stdout:
            if line.startswith("closing"):
                closed_at = time.perf_counter() + after
            elif line.startswith("window gone"):
                gone = float(line.split()[-1])
        proc.wait()
        if closed_at is not None and gone is not None:
            runs.append((gone, time.perf_counter() - closed_at))
    return runs


def bench_startup(repeats: int = 3) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.time()
        proc = subprocess.run([sys.executable, "-c", STARTUP, repr(start)], capture_output=True,
                              text=True, timeout=120, check=False)
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"start-up run failed: {proc.stderr[-1500:]}")
        out.append(float(lines[-1]))
    return out


def big_dataset(n_cells: int = 10_000, seed: int = 0):
    """A Dataset of ``n_cells`` x every built-in source, ~70% of files present (no disk)."""
    import datakit

    tags = sorted(datakit.available_tags())[:14]
    rng = np.random.default_rng(seed)
    subjects = [f"SUBJ{i:04d}" for i in range(n_cells // 30 + 1)]
    keys = [(subjects[i // 30], f"ses-{(i // 3) % 10 + 1:02d}", f"task-{('a', 'b', 'c')[i % 3]}")
            for i in range(n_cells)]
    index = pd.MultiIndex.from_tuples(keys, names=["Subject", "Session", "Task"])
    present = rng.random((n_cells, len(tags))) < 0.7
    paths = np.where(present, np.array([f"/data/{t}.dat" for t in tags], dtype=object), None)
    inventory = pd.DataFrame(paths, index=index, columns=tags, dtype=object)
    return datakit.Dataset(inventory, sources=tags)


def bench_heatmap(app) -> dict:
    from datakit_gui import coverage as cov
    from datakit_gui.filters import AxisFilter
    from datakit_gui.state import AppState
    from datakit_gui.widgets.coverage_heatmap import CoverageHeatmap
    from datakit_gui.widgets.experiment_tree import ExperimentTree

    dataset = big_dataset()
    state = AppState()
    heatmap = CoverageHeatmap(state)
    tree = ExperimentTree(state)
    heatmap.resize(700, 800)
    tree.resize(330, 800)
    heatmap.show()
    tree.show()
    app.processEvents()

    start = time.perf_counter()
    coverage = cov.build(dataset, dataset, None)
    t_build = time.perf_counter() - start

    draws = []
    for _ in range(5):
        heatmap.set_coverage(None)
        app.processEvents()
        start = time.perf_counter()
        heatmap.set_coverage(coverage)
        heatmap.graphics.repaint()
        draws.append(time.perf_counter() - start)

    start = time.perf_counter()
    state.set_dataset(dataset)
    heatmap.graphics.repaint()
    tree.view.repaint()
    t_open = time.perf_counter() - start

    filters = []
    subjects = dataset.subjects
    for k in range(5):
        start = time.perf_counter()
        state.set_axis("subject", AxisFilter("exclude", subjects[k:k + 3]))
        heatmap.graphics.repaint()
        tree.view.repaint()
        filters.append(time.perf_counter() - start)

    zooms = []
    for k in range(10):
        start = time.perf_counter()
        heatmap.view_box.setRange(yRange=(k * 500, k * 500 + 50 + 200 * k), padding=0)
        heatmap.graphics.repaint()
        zooms.append(time.perf_counter() - start)
    heatmap.close()
    tree.close()
    return {"cells": len(dataset), "sources": len(dataset.sources), "build": t_build,
            "draw": float(np.median(draws)), "draw_max": max(draws), "open": t_open,
            "filter": float(np.median(filters)), "zoom": float(np.median(zooms))}


def bench_stall(app, root: Path) -> dict:
    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    from datakit_gui.main_window import MainWindow

    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.show()
    loop = QEventLoop()
    window.state.dataset_changed.connect(loop.quit)
    window.open_roots([root])
    loop.exec()

    def run_probe(action: str, signal) -> tuple[float, float, float]:
        gaps: list[float] = []
        last = [time.perf_counter()]

        def tick():
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now

        probe = QTimer()
        probe.setInterval(5)
        probe.timeout.connect(tick)
        done = QEventLoop()
        signal.connect(done.quit)
        start = time.perf_counter()
        last[0] = start
        probe.start()
        window.actions[action].trigger()
        done.exec()
        probe.stop()
        elapsed = time.perf_counter() - start
        stalls = np.maximum(np.asarray(gaps) - 0.005, 0.0)
        return elapsed, float(stalls.max(initial=0.0)), float(np.percentile(stalls, 99) if len(stalls) else 0)

    # first run starts the worker processes; measure the second, warm one too
    cold = run_probe("materialize", window.state.frame_changed)
    warm = run_probe("materialize", window.state.frame_changed)
    frame = window.state.frame
    window.close()
    loop = QEventLoop()
    QTimer.singleShot(200, loop.quit)
    loop.exec()
    return {"cold": cold, "warm": warm, "cells": len(frame), "columns": frame.shape[1]}


def bench_pan(app, n_points: int = 10_000_000) -> dict:
    from datakit_gui.state import AppState
    from datakit_gui.streams import CellStreams, Curve
    from datakit_gui.widgets.stream_plot import StreamPlot

    t = np.arange(n_points, dtype=np.float64) / 1000.0          # 10 M samples at 1 kHz
    rng = np.random.default_rng(1)
    y = np.cumsum(rng.standard_normal(n_points)) * 0.01
    streams = CellStreams(("BENCH", "ses-01", "task-x"),
                          items=[Curve(source="ephys", feature="voltage", t=t, y=y, signal=True,
                                       basis="master")], window=(0.0, t[-1]))
    plot = StreamPlot(AppState(), jobs=None)
    plot.resize(1000, 500)
    plot.show()
    start = time.perf_counter()
    plot.set_streams(streams)
    plot.graphics.repaint()
    first = time.perf_counter() - start
    results = {}
    for label, span in (("whole stream in view", t[-1]), ("60 s in view", 60.0)):
        frames = []
        step = span * 0.02
        for k in range(40):              # pan right by 2% of the view per frame
            x0 = (k * step) % max(step, t[-1] - span) if span < t[-1] else k * step
            begin = time.perf_counter()
            plot.plots[0].setXRange(x0, x0 + span, padding=0)
            plot.graphics.repaint()
            app.processEvents()
            frames.append(time.perf_counter() - begin)
        results[label] = (float(np.median(frames)), float(np.max(frames)))
    plot.close()
    return {"points": n_points, "first": first, "frames": results}


def _run_chain(steps) -> None:
    """Run ``steps`` (callables) one per event-loop turn, under a real event loop."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    queue = list(steps)

    def next_step():
        if not queue:
            loop.quit()
            return
        delay = queue.pop(0)()
        QTimer.singleShot(int(delay or 0), next_step)

    QTimer.singleShot(0, next_step)
    loop.exec()


def bench_cell_switch(app, root: Path, rounds: int = 5) -> dict:
    """Draw time of a cell switch once the cell's data has arrived, in the real window."""
    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    from datakit_gui.main_window import MainWindow
    from datakit_gui.streams import Curve, RoiImage, extract

    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.resize(1600, 1000)
    window.show()
    loop = QEventLoop()
    window.state.dataset_changed.connect(loop.quit)
    window.open_roots([root])
    loop.exec()
    frame = window.state.dataset.materialize(workers=1, strict=False)
    keys = [tuple(map(str, k)) for k in frame.index]
    streams, extract_s = {}, {}
    for key in keys:
        start = time.perf_counter()
        streams[key] = extract(frame.loc[key], key)          # the load job does this in a worker
        extract_s[key] = time.perf_counter() - start
    draws: dict[tuple, list[float]] = {k: [] for k in keys}
    shown: dict[tuple, tuple] = {}
    toggles: list[float] = []
    plot = window.plot
    begun = [0.0]

    def switch(key):
        def start():
            begun[0] = time.perf_counter()
            window.state.set_cell_frame(key, frame.loc[[key]], None, streams[key])
            return 0                              # the layout requests are handled next turn

        def painted():
            plot.repaint()
            draws[key].append(time.perf_counter() - begun[0])
            s = streams[key]
            before = sum(isinstance(i, (Curve, RoiImage)) and i.feature != "*" for i in s.items)
            images = sum(isinstance(s.item(k), RoiImage) for k in plot.shown_features())
            curves = sum(isinstance(s.item(k), Curve) for k in plot.shown_features())
            shown[key] = (before, len(plot.shown_features()), curves, images, len(plot.lanes()))
            return 150                            # let the window settle before the next switch

        return [start, painted]

    def toggle():
        key = plot.features.checked()[-1]
        start = time.perf_counter()
        plot.features.set_key_checked(key, False)
        plot.features.set_key_checked(key, True)
        plot.repaint()
        toggles.append((time.perf_counter() - start) / 2)
        return 50

    steps = []
    for _ in range(rounds):
        for key in keys:
            steps += switch(key)
            steps.append(toggle)
    _run_chain(steps)
    samples = {key: max((len(getattr(i, "t", ())) for i in streams[key].signals), default=0)
               for key in keys}
    window.close()
    loop = QEventLoop()
    QTimer.singleShot(200, loop.quit)
    loop.exec()
    return {"draws": draws, "shown": shown, "extract": extract_s, "toggle": toggles, "samples": samples}


def main(only=()) -> None:
    warnings.simplefilter("ignore")
    from PySide6.QtWidgets import QApplication

    from datakit.demo import generate

    wanted = set(only) or {"1", "2", "3", "4", "5", "6"}
    app = QApplication.instance() or QApplication([])
    print(f"GUI benchmarks (Qt platform: {app.platformName()}, {os.cpu_count()} CPUs)")
    if "1" in wanted:
        starts = bench_startup()
        print(f"1. window shown after start: median {np.median(starts):.2f} s "
              f"(runs: {', '.join(f'{s:.2f}' for s in starts)}; goal < {GOALS['shown']} s)")

    from datakit_gui import qtfix
    from datakit_gui.app import configure_pyqtgraph

    qtfix.apply()
    qtfix.collect_in_gui_thread()
    configure_pyqtgraph()

    if "2" in wanted:
        h = bench_heatmap(app)
        print(f"2. heatmap {h['cells']:,} cells x {h['sources']} sources: draw {h['draw'] * 1000:.0f} ms "
              f"median (max {h['draw_max'] * 1000:.0f} ms; goal < {GOALS['heatmap'] * 1000:.0f} ms); "
              f"coverage build {h['build'] * 1000:.0f} ms; opening (coverage + tree + heatmap) "
              f"{h['open'] * 1000:.0f} ms; filter change {h['filter'] * 1000:.0f} ms; zoom/scroll "
              f"{h['zoom'] * 1000:.0f} ms")

    if "3" in wanted:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "demo"
            generate(root, subjects=3, sessions=2, duration=600.0, seed=0)
            s = bench_stall(app, root)
        for label, (elapsed, worst, p99) in (("first (starts workers)", s["cold"]), ("second", s["warm"])):
            print(f"3. materialize {s['cells']} cells of 10-minute sessions ({label}): {elapsed:.1f} s; "
                  f"longest event-loop stall {worst * 1000:.0f} ms, 99th percentile {p99 * 1000:.0f} ms "
                  f"(goal < {GOALS['stall'] * 1000:.0f} ms)")

    if "4" in wanted:
        p = bench_pan(app)
        for label, (median, worst) in p["frames"].items():
            print(f"4. panning a {p['points']:,}-point stream, {label}: frame {median * 1000:.0f} ms "
                  f"median, {worst * 1000:.0f} ms max (first draw {p['first'] * 1000:.0f} ms)")

    if "5" in wanted:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "demo20"
            generate(root, subjects=1, sessions=1, duration=1200.0, seed=0, missing=False, broken=False)
            c = bench_cell_switch(app, root)
        for key, times in c["draws"].items():
            before, shown, curves, images, lanes = c["shown"][key]
            print(f"5. switch to a 20-minute {key[2]} cell (longest signal {c['samples'][key]:,} "
                  f"samples): drawn in {np.median(times) * 1000:.0f} ms median, {max(times) * 1000:.0f} ms "
                  f"max (goal < {GOALS['switch'] * 1000:.0f} ms); by default {shown} signals in {lanes} "
                  f"lanes ({curves} curves, {images} ROI images), where drawing every numeric feature "
                  f"made {before} curves; extraction in the load job {c['extract'][key] * 1000:.0f} ms")
        print(f"5. toggling a feature (show or hide its item): {np.median(c['toggle']) * 1000:.1f} ms median")

    if "6" in wanted:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "demo-close"
            generate(root, subjects=2, sessions=2, duration=1200.0, seed=0)
            runs = bench_closing(root)
        print("6. closing during a materialize of 20-minute cells: window gone after "
              + ", ".join(f"{g:.2f}" for g, _ in runs) + " s; process exited after "
              + ", ".join(f"{e:.2f}" for _, e in runs) + f" s (goal < {GOALS['close']} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
