"""Commands: what the actions do (open, refresh, validate, materialize, save, load a cell).

Each command gathers what it needs from AppState in the GUI thread, runs the library
call through the JobRunner (worker thread + the engine's process pool) and hands the
result back to AppState.  No widget is touched from a job.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

import datakit
from datakit.formats import human_bytes, is_hdf5, is_pickle, plural
from datakit.io import EAGER_LOAD_BYTES

from . import dialogs
from .coverage import cell_label
from .jobs import CELL, MAIN, JobBusy

from .streams import extract

PROTOCOL = "protocol"     # the lane that writes datakit.toml
#: a saved HDF5 file whose values take at most this much is also loaded whole as ``df``
EAGER_BYTES = EAGER_LOAD_BYTES


def explain(exc: BaseException) -> str:
    """A short message for a failed job that says what to do next."""
    from datakit.cluster import SchedulerLost, SchedulerUnreachable
    from datakit.pathmap import PathMapError

    text = str(exc) or type(exc).__name__
    if isinstance(exc, NotADirectoryError):
        return (f"{text}\n\nOpen the experiment folder (the one that holds data/ and "
                "processed/), not a file. A saved dataset (.h5, .pkl) opens with File > Open "
                "Saved Dataset (Ctrl+Shift+O).")
    if isinstance(exc, (SchedulerUnreachable, SchedulerLost, PathMapError)):
        return (f"{text}\n\nChange the scheduler or the path map, or run jobs on this "
                "computer: Data > Run Jobs On…")
    if isinstance(exc, ImportError) and exc.name == "distributed":
        return f"{text}\n\nInstall it, or run jobs on this computer: Data > Run Jobs On…"
    if isinstance(exc, FileNotFoundError):
        return f"{text}\n\nCheck the path, or open another folder (File > Open Folder, Ctrl+O)."
    if isinstance(exc, PermissionError):
        return f"{text}\n\nYou do not have permission: choose a folder you can read/write."
    if isinstance(exc, datakit.LoadError):
        return f"{text}\n\nThe report table lists every failed file; fix or exclude it and retry."
    if isinstance(exc, OSError):
        return f"{text}\n\nCheck the disk (space, permissions) and try again."
    if isinstance(exc, (ValueError, KeyError, TypeError)):
        return f"{type(exc).__name__}: {text}"
    return f"Unexpected error ({type(exc).__name__}): {text}\n\nDetails below; please report it."


def _stat_sizes(dataset, ctx) -> dict[str, int]:
    """File sizes of every inventory path (in the discovery job; os.stat frees the GIL)."""
    import os

    inventory = dataset.inventory
    paths = [p for p in inventory.to_numpy(dtype=object).ravel() if isinstance(p, str)]
    sizes: dict[str, int] = {}
    for i, path in enumerate(paths):
        if i % 2000 == 0:
            ctx.check_cancel()
            ctx.progress(i, len(paths), "measuring file sizes")
        try:
            sizes[path] = os.stat(path).st_size
        except OSError:
            continue
    return sizes


class Commands(QObject):
    message = Signal(str)        # a one-line status message for the status bar
    opened = Signal(list)        # roots opened

    def __init__(self, window, state, jobs, prefs):
        super().__init__(window)
        self.window = window
        self.state = state
        self.jobs = jobs
        self.prefs = prefs
        self._pending_cell = None
        self.last_nwb_export = None      # (paths, report) of the last NWB export
        state.selection_changed.connect(self._selection_changed)

    # helpers ----------------------------------------------------------------------

    def _submit(self, name, fn, on_result, *, lane=MAIN) -> bool:
        try:
            self.jobs.submit(name, fn, lane=lane, on_result=on_result,
                             on_error=lambda exc, tb: self._failed(name, exc, tb))
        except JobBusy as exc:
            self.message.emit(str(exc))
            return False
        return True

    def _failed(self, name: str, exc: BaseException, tb: str) -> None:
        self.message.emit(f"{name} failed: {exc}")
        self.window.notifier.error(f"{name} failed", explain(exc), tb)

    # open / refresh ---------------------------------------------------------------

    def ask_open(self) -> None:
        path = dialogs.ask_directory(self.window, self.prefs.last_folder())
        if path:
            self.open_roots([path])

    def open_roots(self, roots) -> bool:
        roots = [str(Path(r).expanduser()) for r in roots]
        if not roots:
            return False
        if not self.keep_protocol_edits(lambda: self.open_roots(roots)):
            return False

        def discover(ctx):
            ctx.progress(0, 0, "scanning " + ", ".join(Path(r).name for r in roots))
            dataset = datakit.Dataset.from_directory(roots, progress=ctx.progress, cancel=ctx.cancel)
            dataset.coverage()   # judges what is missing here, so the GUI thread reads a cache
            return dataset, _stat_sizes(dataset, ctx)

        def done(result):
            dataset, sizes = result
            self.state.set_dataset(dataset, sizes)
            self.prefs.add_recent([str(r) for r in dataset.roots])
            self.opened.emit([str(r) for r in dataset.roots])
            self.message.emit(self._summary(dataset))

        return self._submit("Discovery", discover, done)

    def _summary(self, dataset) -> str:
        text = (f"{len(dataset)} cells, {len(dataset.sources)} sources found in "
                + ", ".join(str(r) for r in dataset.roots))
        if not len(dataset):
            text = ("No recordings found: datakit looks for the files of known sources under "
                    "data/ and processed/ of the folder you open.")
        extra = []
        if len(dataset.skipped):
            extra.append(f"{len(dataset.skipped)} files skipped")
        if len(dataset.conflicts):
            extra.append(f"{len(dataset.conflicts)} duplicate files ignored")
        return text + (f" ({', '.join(extra)}; see ds.skipped / ds.conflicts in the console)"
                       if extra else "")

    def refresh(self) -> None:
        if self.state.roots:
            self.open_roots(self.state.roots)

    def open_demo(self, root=None, **settings) -> bool:
        from .demo_cache import ensure_demo

        def write(ctx):
            return str(ensure_demo(root, progress=ctx.progress, cancel=ctx.cancel, **settings))

        def done(path):
            self.open_roots([path])

        return self._submit("Writing the demo experiment", write, done)

    # validate / materialize / save ------------------------------------------------

    def _need_dataset(self) -> bool:
        if self.state.filtered is None:
            self.message.emit("Open an experiment folder first (Ctrl+O).")
            return False
        if not len(self.state.filtered):
            self.message.emit("No cell passes the current filters: nothing to do.")
            return False
        return True

    def _for_jobs(self, dataset):
        """``dataset`` with the path map of the preferences (it only changes the paths
        sent to Dask workers; a run on this computer ignores it)."""
        rules = self.prefs.path_map()
        return dataset.with_settings(path_map=rules) if rules else dataset

    def validate(self) -> bool:
        if not self._need_dataset():
            return False
        dataset = self._for_jobs(self.state.filtered)

        def run(ctx):
            return dataset.validate(progress=ctx.progress, cancel=ctx.cancel, executor=ctx.executor)

        def done(report):
            self.state.merge_report(report)
            status = report["status"]
            missing = status == "missing"
            expected = missing & report["expected"].astype(bool)
            self.message.emit(
                f"Validated {len(report)} (cell, source) pairs: "
                f"{_count(int((status == 'error').sum()), 'error')}, "
                f"{int(expected.sum())} missing (expected), {int((status == 'ok').sum())} ok, "
                f"{int((missing & ~expected).sum())} not expected")

        return self._submit("Validate", run, done)

    def materialize(self) -> bool:
        if not self._need_dataset():
            return False
        dataset = self._for_jobs(self.state.filtered)

        def run(ctx):
            return dataset.materialize(strict=False, return_errors=True, progress=ctx.progress,
                                       cancel=ctx.cancel, executor=ctx.executor)

        def done(result):
            frame, errors = result
            self.state.set_frame(frame, errors)
            self.state.merge_report(errors)
            failed = int((errors["status"] == "error").sum()) if len(errors) else 0
            self.message.emit(f"Materialized {frame.shape[0]} cells x {frame.shape[1]} columns"
                              + (f"; {plural(failed, 'file')} failed (left empty, see the report)" if failed else "")
                              + ". Save it (Ctrl+S) or use df in the console.")

        return self._submit("Materialize", run, done)

    def save(self, path: str | None = None) -> bool:
        """Write the materialized frame (``df``) to a file; progress per column written."""
        frame = self.state.frame
        if frame is None:
            dialogs.show_info(self.window, "Nothing to save",
                              "Nothing has been materialized yet. Run Materialize (Ctrl+M) on the "
                              "current selection first, then save; or save the selection "
                              "directly (File > Save Selection), which writes each cell as it "
                              "loads without holding them all in memory.")
            return False
        from datakit.io import save_frame

        # the frame may come from an experiment opened before this one: say which
        origin = [str(r) for r in frame.attrs.get("datakit_roots", ()) or ()]
        other = origin and origin != self.state.roots
        title = (f"Save materialized dataset ({plural(len(frame), 'cell')} from "
                 f"{', '.join(origin)}, not the experiment open now)") if other else None
        path, fmt = self._ask_target(path, origin[0] if other else None, title)
        if path is None:
            return False

        def run(ctx):
            ctx.progress(0, 0, f"writing {Path(path).name} ({fmt})")
            return save_frame(frame, path, format=fmt, progress=ctx.progress, cancel=ctx.cancel)

        def done(written):
            self.message.emit(f"Saved {frame.shape[0]} cells to {written} ({fmt})")

        return self._submit(f"Save {Path(path).name}", run, done)

    def export_nwb(self, folder: str | None = None, *, overwrite: bool = False) -> bool:
        """Export the filtered selection, one NWB file per cell, into a folder (a job)."""
        import importlib.util

        if not self._need_dataset():
            return False
        if importlib.util.find_spec("pynwb") is None:
            self.window.notifier.error("NWB export is not installed",
                               "Exporting NWB needs pynwb. Install it with\n\n"
                               "    pip install 'datakit[nwb]'\n\nand restart datakit.")
            return False
        dataset = self.state.filtered
        if folder is None:
            roots = self.state.roots
            start = str(Path(roots[0]).parent) if roots else self.prefs.last_folder()
            folder = dialogs.ask_nwb_folder(self.window, start)
            if not folder:
                return False
        n = len(dataset)

        def run(ctx):
            ctx.progress(0, n, f"exporting {n} cells to {folder}")
            return dataset.to_nwb(folder, overwrite=overwrite, progress=ctx.progress,
                                  cancel=ctx.cancel, executor=ctx.executor)

        def done(result):
            self.last_nwb_export = result
            paths, report = result
            status = report["status"] if len(report) else None
            count = (lambda s: int((status == s).sum())) if status is not None else (lambda s: 0)
            extra = []
            if count("skipped"):
                extra.append(f"{_count(count('skipped'), 'cell')} skipped (nothing usable)")
            if count("failed"):
                extra.append(f"{_count(count('failed'), 'source')} failed to load (named in the "
                             "files' notes)")
            self.message.emit(
                f"Exported {_count(len(paths), 'NWB file')} to {folder}"
                + (f"; {'; '.join(extra)}" if extra else "")
                + ". What went where: window.commands.last_nwb_export.report in the console.")

        def failed(exc, tb):
            if isinstance(exc, FileExistsError) and not overwrite:
                if dialogs.confirm_overwrite_nwb(self.window, str(folder), exc.strerror or str(exc)):
                    self.export_nwb(folder, overwrite=True)
                return
            self._failed("Export NWB", exc, tb)

        try:
            self.jobs.submit(f"Export NWB ({n} cells)", run, lane=MAIN, on_result=done,
                             on_error=failed,
                             on_cancelled=lambda: self.message.emit(
                                 "NWB export cancelled; the files written before stay (each is "
                                 "complete)."))
        except JobBusy as exc:
            self.message.emit(str(exc))
            return False
        return True
    def save_selection(self, path: str | None = None) -> bool:
        """Load the filtered selection and write it to a file, without materializing it
        first: HDF5 gets each cell as it loads (memory stays bounded by the cells in
        flight, whatever the selection's size); failed files are left empty and reported."""
        if self.state.saved_view:
            self.message.emit("This is a saved dataset already: open the experiment folder "
                              "(File > Open Folder) to save a new selection of it.")
            return False
        if not self._need_dataset():
            return False
        dataset = self.state.filtered
        path, fmt = self._ask_target(path)
        if path is None:
            return False

        def run(ctx):
            return dataset.save(path, format=fmt, strict=False, return_errors=True,
                                progress=ctx.progress, cancel=ctx.cancel, executor=ctx.executor)

        def done(result):
            written, errors = result
            self.state.merge_report(errors)
            failed = int((errors["status"] == "error").sum()) if len(errors) else 0
            self.message.emit(f"Saved {len(dataset)} cells to {written} ({fmt})"
                              + (f"; {plural(failed, 'file')} failed (left empty, see the report)"
                                 if failed else ""))

        return self._submit(f"Save {Path(path).name}", run, done)

    def _ask_target(self, path: str | None, folder: str | None = None,
                    title: str | None = None) -> tuple[str | None, str | None]:
        from datakit.io import resolve_format

        folder = folder or (self.state.roots[0] if self.state.roots else "")
        path = path or dialogs.ask_save_frame_path(self.window, str(Path(folder) / "dataset.h5"), title)
        if not path:
            return None, None
        try:
            return path, resolve_format(path)
        except ValueError as exc:
            self.window.notifier.error("Cannot save there", str(exc))
            return None, None

    def open_saved(self, path: str | None = None) -> bool:
        """Open a saved dataset: ``df`` in the console (asks before unpickling).

        An HDF5 file in datakit's layout is opened lazily (:func:`datakit.open_dataset`:
        the header only) and is ``saved`` in the console; it is also loaded whole as
        ``df`` when its values take at most EAGER_BYTES.  With no experiment open, the
        heatmap and tree show its cells, and selecting one plots it from the file.
        """
        path = path or dialogs.ask_open_frame_path(self.window, self.prefs.last_folder())
        if not path:
            return False
        allow_pickle = False
        if is_pickle(path):
            if not dialogs.confirm_pickle(self.window, path):
                return False
            allow_pickle = True
        elif is_hdf5(path):
            return self._open_saved_hdf5(path)

        def run(ctx):
            future = ctx.local_executor.submit(datakit.load_dataset, path, allow_pickle=allow_pickle)
            return future.result()

        def done(frame):
            self.state.set_frame(frame, None)
            self.message.emit(f"Loaded {frame.shape[0]} cells x {frame.shape[1]} columns from {path} "
                              "as df (console)")

        return self._submit(f"Open {Path(path).name}", run, done)

    def _open_saved_hdf5(self, path: str) -> bool:
        show = self.state.dataset is None or self.state.saved_view
        name = Path(path).name

        def run(ctx):
            from datakit.legacy import pandas_hdf_keys

            if "dataset" in (pandas_hdf_keys(path) or {}):   # an earlier pandas .h5: pickles
                return None, datakit.load_dataset(path, allow_pickle=False), None, {}
            ctx.progress(0, 0, f"reading the header of {name}")
            saved = datakit.open_dataset(path)        # h5py reads without holding the GIL
            size = saved.nbytes
            view = saved_view(saved) if show else None
            ctx.check_cancel()
            frame = None
            if size <= EAGER_BYTES:
                ctx.progress(0, 0, f"loading {name} ({_size(size)}) as df")
                frame = ctx.local_executor.submit(datakit.load_dataset, path).result()
            return saved, frame, view, {str(saved.path): Path(saved.path).stat().st_size}

        def done(result):
            saved, frame, view, sizes = result
            self.state.set_saved(saved, frame, view, sizes)
            if view is not None:
                self.opened.emit([])
            rows, cols = saved.shape
            where = "shown in the heatmap; " if view is not None else ""
            if frame is not None:
                self.message.emit(f"Opened {path}: {rows} cells x {cols} columns, {where}"
                                  "df and saved (console)")
            else:
                self.message.emit(f"Opened {path} without loading it ({_size(saved.nbytes)}): "
                                  f"{rows} cells x {cols} columns, {where}saved.cell(key) / "
                                  "saved.load(subject=...) in the console")

        return self._submit(f"Open {name}", run, done)
    # where jobs run ---------------------------------------------------------------

    def ask_run_on(self) -> bool:
        """The "Run jobs on a Dask scheduler at …" preference (Data > Run Jobs On…)."""
        use, address = self.prefs.scheduler()
        answer = dialogs.ask_run_on(self.window, use, address, self.prefs.path_map(),
                                    self.jobs.workers)
        if answer is None:
            return False
        use, address, rules = answer
        return self.run_on(address if use else None, rules, remember_address=address)

    def run_on(self, scheduler: str | None, path_map=(), *, remember_address: str | None = None) -> bool:
        """Run jobs on ``scheduler`` (an address or local:N; None: this computer) with
        ``path_map``; remembered, and a connection is tried at once in the background."""
        try:
            self.jobs.set_scheduler(scheduler)
        except JobBusy as exc:
            self.message.emit(str(exc))
            return False
        self.prefs.set_scheduler(scheduler is not None,
                                 remember_address if remember_address is not None else scheduler or "")
        self.prefs.set_path_map(list(path_map))
        if scheduler is None:
            self.message.emit(f"Jobs run on {self.jobs.where()[1]}.")
            return True

        def connect(ctx):
            ctx.progress(0, 0, f"connecting to {scheduler}")
            ctx.executor          # noqa: B018 - connects (in this thread)
            return self.jobs.where()[1]

        return self._submit("Connect to the Dask scheduler", connect,
                            lambda where: self.message.emit(f"Jobs run on {where}."))

    # what should exist ------------------------------------------------------------

    def set_expected(self, task: str, source: str, expected: bool) -> None:
        """Declare that ``source`` is (not) recorded in ``task`` ("*": every session)."""
        from datakit.protocol import Protocol

        dataset = self.state.dataset
        if dataset is None:
            return
        if self.state.saved_view:
            self.message.emit("This is a saved dataset: what a task should have is declared "
                              "on the experiment folder (File > Open Folder).")
            return
        protocol = dataset.protocol or Protocol()
        seed = () if protocol.declares(task) else _current_expectation(dataset, task)
        self.state.set_protocol(protocol.with_expected(task, source, expected, seed=seed))
        where = "every session" if task == "*" else task
        self.message.emit(f"{source} is now {'expected' if expected else 'not expected'} in {where} "
                          "(not saved yet: File > Save Protocol writes datakit.toml)")

    def save_protocol(self, path: str | None = None, then=None) -> bool:
        """Write the protocol in use to ``datakit.toml`` at the first root (or ``path``)."""
        from datakit.protocol import PROTOCOL_FILE

        dataset = self.state.dataset
        protocol = dataset.protocol if dataset is not None else None
        if protocol is None:
            self.message.emit("Nothing is declared yet: right-click a heatmap cell or column "
                              "to say what a task should have.")
            return False
        root = Path(dataset.roots[0])
        target = Path(path) if path else root / PROTOCOL_FILE
        # replacing another file, or comments that would be lost: ask first (the file is
        # looked at in the GUI thread: one stat of a small local file the user asked to write)
        if (protocol.path != target or protocol.comments) and target.exists() \
                and not dialogs.confirm_replace(self.window, str(target)):
            return False

        def run(ctx):
            ctx.progress(0, 0, f"writing {target}")
            return protocol.write(target)

        def done(written):
            self.state.mark_protocol_saved()
            note = "" if Path(written).parent == root else (
                f"; datakit reads the protocol only from the experiment folder ({root}), "
                "so copy it there when you can")
            self.message.emit(f"Saved the protocol to {written}{note}")
            if then is not None:
                then()

        def failed(exc, tb):
            if path is None and isinstance(exc, OSError):
                reason = exc.strerror or str(exc)
                other = dialogs.ask_protocol_path(
                    self.window, f"The protocol cannot be written to {root} ({reason}): the "
                    "experiment folder may be read-only. Save it somewhere else?",
                    str(Path.home() / PROTOCOL_FILE))
                if other:
                    self.save_protocol(other, then)
                return
            self._failed("Save protocol", exc, tb)

        self.jobs.submit("Save protocol", run, lane=PROTOCOL, on_result=done, on_error=failed)
        return True

    def keep_protocol_edits(self, then) -> bool:
        """Before the dataset is replaced: True to go on now; with unsaved edits, ask first
        (Save runs ``then`` once written, Cancel stops)."""
        if not self.state.protocol_unsaved:
            return True
        answer = dialogs.ask_unsaved_protocol(self.window)
        if answer == "discard":
            self.state.mark_protocol_saved()
            return True
        if answer == "save":
            self.save_protocol(then=then)
        return False

    def cancel(self) -> None:
        if self.jobs.busy(MAIN):
            self.message.emit("Cancelling…")
        self.jobs.cancel(MAIN)

    # the selected cell ------------------------------------------------------------

    def _selection_changed(self) -> None:
        key = self.state.selection
        if key is None or key == self._pending_cell or \
                (key == self.state.cell_key and self.state.cell_frame is not None):
            return
        self.load_cell(key)

    def load_cell(self, key) -> bool:
        state = self.state
        if state.dataset is None:
            return False
        key = tuple(map(str, key))
        row = state.coverage.row_of(key) if state.coverage is not None else -1
        if row >= 0 and state.coverage.recorded is not None and not state.coverage.recorded[row]:
            state.set_cell_frame(key, None)
            self.message.emit(f"{cell_label(key)} was never recorded: no file to plot "
                              "(it is expected, so its sources show as missing)")
            return False
        dataset = state.filtered if state.cell_included(key) else state.dataset
        frame = state.frame
        saved = state.saved if state.saved_cell(key) else None
        if state.saved_view and saved is None:
            state.set_cell_frame(key, None)
            return False
        reuse = (frame is not None and len(frame) and key in frame.index
                 and set(frame.attrs.get("datakit_sources", ())) >= set(dataset.sources))
        self._pending_cell = key
        state.begin_cell_load(key)

        def run(ctx):
            if saved is not None:   # one cell's byte ranges, read in this thread (GIL free)
                row, errors = saved.cell(key), None
            elif reuse:
                row, errors = frame.loc[[key]], None
            else:
                one = dataset.select(*key)
                row, errors = one.materialize(strict=False, return_errors=True, cancel=ctx.cancel,
                                              executor=ctx.executor)
            return row, errors, extract(row.iloc[0], key, errors)

        def done(result):
            row, errors, streams = result
            self._pending_cell = None
            if errors is not None and len(errors):
                state.merge_report(errors)
            state.set_cell_frame(key, row, errors, streams)

        def failed(exc, tb):
            self._pending_cell = None
            state.set_cell_frame(key, None)
            self._failed(f"Loading {cell_label(key)}", exc, tb)

        self.jobs.submit(f"Load {cell_label(key)}", run, lane=CELL, on_result=done, on_error=failed,
                         on_cancelled=lambda: setattr(self, "_pending_cell", None))
        return True


def saved_view(saved):
    """A Dataset standing for a saved file's cells, for the heatmap and tree: a (cell,
    source) is present when the file holds data for it (its "path" is the file).
    None when the file's rows are not (Subject, Session[, Task]) cells."""
    import numpy as np
    import pandas as pd

    index = saved.index
    if not isinstance(index, pd.MultiIndex) or index.nlevels not in (2, 3):
        return None
    registered = datakit.registered_sources()
    presence = saved.presence()
    sources = [s for s in presence.columns if s in registered]
    values = np.where(presence[sources].to_numpy(), str(saved.path), None).astype(object)
    inventory = pd.DataFrame(values, index=index, columns=pd.Index(sources, dtype=object))
    inventory = inventory.where(inventory.notna(), np.nan)
    dataset = datakit.Dataset(inventory)
    dataset.coverage()            # judged here, in the job, so the GUI thread reads a cache
    return dataset


def _size(n: int) -> str:
    return human_bytes(n)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _current_expectation(dataset, task: str) -> tuple:
    """Sources most cells of ``task`` are expected to have now (not counting "*")."""
    table = dataset.expected()
    if table.index.nlevels >= 3 and task != "*":
        table = table[table.index.get_level_values(2) == task]
    if not len(table):
        return ()
    share = table.notna().mean()
    protocol = dataset.protocol
    everywhere = set(protocol.expected.get("*", ())) if protocol is not None else set()
    return tuple(t for t in table.columns if share[t] >= 0.5 and t not in everywhere)
