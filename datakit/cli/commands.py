"""What each ``datakit`` sub-command does (argparse namespace in, exit status out)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from . import output as out
from .selection import (AXES, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, cell_label,
                        counts_line, error_lines, expectation_rules, human_size, labels,
                        need_cells, note_conflicts, on_scheduler, open_dataset, selected_conflicts,
                        shell_args, show_progress, write_report)

__all__ = ["COMMANDS", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "UsageError"]

from ..formats import SAVED_SUFFIXES  # noqa: E402 - one home for the suffixes
SHOWN = 5  # skipped files / conflicts listed by inspect without --all
# --------------------------------------------------------------------------------------
# inspect



def emit_report(args, render) -> None:
    """Machine output alone on stdout (csv/json without -o), else the readable table
    (and, with -o, the file in the chosen format)."""
    if args.output is None and args.format in ("csv", "json"):
        out.emit(render(args.format))
        return
    out.emit(render("table"))
    if args.output is not None:
        out.note(f"wrote {write_report(args, render)}")

def cmd_inspect(args) -> int:
    from ..api import inspect_sources

    ds = open_dataset(args)
    coverage = inspect_sources(ds)
    skipped, conflicts = ds.skipped, selected_conflicts(ds)

    def render(fmt: str) -> str:
        if fmt == "csv":
            return out.to_csv(coverage)
        if fmt == "json":
            return out.to_json({
                "roots": [str(r) for r in ds.roots], "cells": len(ds),
                "subjects": ds.subjects, "sessions": ds.sessions, "tasks": ds.tasks,
                "sources": out.records(coverage), "skipped": out.records(skipped, index=False),
                "conflicts": out.records(conflicts, index=False)})
        return _inspect_text(ds, coverage, skipped, conflicts, args)

    emit_report(args, render)
    return EXIT_OK


def _inspect_text(ds, coverage, skipped, conflicts, args) -> str:
    shown = coverage[["present", "missing", "not_expected"]].rename(
        columns={"not_expected": "not expected"})
    shown["coverage"] = [f"{c:.0%}" for c in coverage["coverage"]]
    lines = [f"experiment: {', '.join(str(r) for r in ds.roots)}", counts_line(ds)]
    for axis in AXES:
        if axis != "task" or ds.has_task_level:
            lines.append(f"  {axis}s: {out.listing(labels(ds, axis))}")
    unrecorded = ds.coverage().index.difference(_str_index(ds.inventory.index))
    if len(unrecorded):
        lines.append(f"  not recorded: {out.plural(len(unrecorded), 'expected cell')} "
                     f"({out.listing(['/'.join(k) for k in unrecorded], 5)})")
    lines.append(f"  expected: {expectation_rules(ds)}")
    lines += ["", out.frame_text(shown, empty="(no source found)")]
    n_missing = int(coverage["missing"].sum())
    if n_missing:
        lines.append(f"{out.plural(n_missing, 'expected recording')} missing; list them with: "
                     f"datakit missing {shell_args(args.roots)}")
    limit = None if args.all else SHOWN
    sections = (
        ("skipped", "discovery could not place", _skipped_lines(skipped)),
        ("conflicts", "lost to another file for the same cell and source",
         _conflict_lines(conflicts, list(ds.inventory.index.names))))
    for (title, what, entries), count in zip(sections, (len(skipped), len(conflicts))):
        lines.append("")
        if not count:
            lines.append(f"{title}: none")
            continue
        lines.append(f"{title}: {out.plural(count, 'file')} {what}")
        for entry in entries[:limit]:
            lines += entry
        if limit is not None and count > limit:
            lines.append(f"  ... {count - limit} more (add --all to list them, or use --format json)")
    return "\n".join(lines)


def _str_index(index):
    import pandas as pd

    return pd.MultiIndex.from_arrays([index.get_level_values(i).astype(str) for i in range(index.nlevels)],
                                     names=index.names)


def _skipped_lines(skipped) -> list[list[str]]:
    return [[f"  {row['path']}", f"    {row['reason']}"]
            for row in out.records(skipped, index=False)]


def _conflict_lines(conflicts, index_names) -> list[list[str]]:
    entries = []
    for row in out.records(conflicts, index=False):
        entries.append([f"  {row.get('Source')}  {cell_label(row, index_names)}: {row.get('reason')}",
                        f"    kept:    {row.get('kept')}", f"    dropped: {row.get('dropped')}"])
    return entries


# --------------------------------------------------------------------------------------
# missing


def cmd_missing(args) -> int:
    ds = open_dataset(args)
    missing = ds.missing()
    names = list(ds.inventory.index.names)

    def render(fmt: str) -> str:
        if fmt == "csv":
            return out.to_csv(missing, index=False)
        if fmt == "json":
            return out.to_json({
                "roots": [str(r) for r in ds.roots], "cells": len(ds.coverage()),
                "summary": _missing_summary(missing, names),
                "missing": out.records(missing, index=False)})
        return _missing_text(ds, missing, names)

    emit_report(args, render)
    return EXIT_FAILED if len(missing) else EXIT_OK


def _relative_to_roots(text: str, roots) -> str:
    """A path under one of the experiment roots, relative to it (roots are printed above)."""
    for root in roots:
        prefix = str(root).rstrip("/\\") + "/"
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def _missing_summary(missing, names) -> str:
    if not len(missing):
        return "nothing expected is missing"
    cells = len(missing[names].drop_duplicates())
    reasons = missing["reason"].value_counts()
    why = ", ".join(f"{int(reasons[r])} {r}" for r in ("declared", "manifest", "inferred") if r in reasons)
    return (f"{out.plural(len(missing), 'expected recording')} missing in "
            f"{out.plural(cells, 'cell')} ({why})")


def _missing_text(ds, missing, names) -> str:
    lines = [f"experiment: {', '.join(str(r) for r in ds.roots)}",
             f"expected: {expectation_rules(ds)}", ""]
    if len(missing):
        shown = missing.copy()
        shown.insert(0, "cell", ["/".join(map(str, key)) for key in
                                 shown[names].itertuples(index=False, name=None)])
        shown = shown.drop(columns=names)
        shown["detail"] = [out.middle(_relative_to_roots(d, ds.roots), 100) for d in shown["detail"]]
        lines += [out.frame_text(shown, index=False), ""]
    lines.append(("MISSING: " if len(missing) else "OK: ") + _missing_summary(missing, names))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# validate


def _status_table(report, sources):
    """Per source: ok, error, missing (expected and absent), not expected (absent)."""
    import numpy as np
    import pandas as pd

    status = report["status"].astype(str).to_numpy(dtype=object)
    quiet = (status == "missing") & ~report["expected"].to_numpy(dtype=bool)
    status = np.where(quiet, "not expected", status)
    table = pd.crosstab(report["Source"].astype(str).to_numpy(), status)
    table = table.reindex(index=[s for s in sources if s in set(table.index)] +
                          [s for s in table.index if s not in sources],
                          columns=["ok", "error", "missing", "not expected"], fill_value=0)
    table.index.name = "source"
    table.columns.name = None
    table.loc["total"] = table.sum()
    return table.astype(int)


def cmd_validate(args) -> int:
    ds = open_dataset(args)
    need_cells(ds, "validate")
    started = time.perf_counter()
    report = ds.validate(progress=show_progress(args), workers=args.workers,
                         executor=args.executor)
    elapsed = time.perf_counter() - started
    n_errors = int((report["status"] == "error").sum())
    index_names = [n for n in ds.inventory.index.names]

    def render(fmt: str) -> str:
        if fmt == "csv":
            return out.to_csv(report, index=False)
        if fmt == "json":
            table = _status_table(report, ds.sources)
            return out.to_json({
                "roots": [str(r) for r in ds.roots], "cells": len(ds),
                "counts": {k: int(table.loc["total", k]) for k in table.columns},
                "sources": out.records(table.drop(index="total")),
                "report": out.records(report, index=False)})
        return _validate_text(ds, report, elapsed, n_errors, index_names)

    emit_report(args, render)
    note_conflicts(ds, args)
    return EXIT_FAILED if n_errors else EXIT_OK


def _validate_text(ds, report, elapsed, n_errors, index_names) -> str:
    table = _status_table(report, ds.sources)
    n_ok = int(table.loc["total", "ok"])
    n_cached = int(report["cached"].sum())
    reused = (f"; {n_cached} unchanged files not read again (--no-cache reads everything)"
              if n_cached else "")
    lines = [f"validated {counts_line(ds)} in {elapsed:.1f} s{reused}", "",
             out.frame_text(table), ""]
    if n_errors:
        lines.append(f"{out.plural(n_errors, 'file')} failed to load:")
        lines += error_lines(report, index_names)
        lines.append("")
        lines.append(f"FAILED: {n_errors} of {n_ok + n_errors} files did not load; "
                     "-o report.csv writes the full report with tracebacks")
    else:
        lines.append(f"OK: all {n_ok} files loaded")
    n_missing = int(table.loc["total", "missing"])
    if n_missing:
        lines.append(f"{out.plural(n_missing, 'expected recording')} missing, not an error here; "
                     "'datakit missing' lists them and exits 1")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# build


def _check_hdf5(hdf_key: str) -> None:
    """HDF5 needs h5py and a usable key: say so before any loading starts."""
    import importlib.util

    if importlib.util.find_spec("h5py") is None:
        raise UsageError("saving HDF5 needs h5py: pip install 'datakit[hdf5]' "
                         "(or save a .pkl instead)")
    from .. import hdf5

    check_key = getattr(hdf5, "check_key", None)
    if check_key is not None:
        try:
            check_key(hdf_key)
        except (ValueError, TypeError) as exc:
            raise UsageError(str(exc)) from None


def cmd_build(args) -> int:
    from ..io import resolve_format
    from ..saving import save_dataset
    from . import compat

    if args.output is None:  # the earlier datakit's default: ROOT/processed/YYMMDD_dataset_mvp.h5
        args.output = str(compat.default_output(args, args.format))
    target = Path(args.output).expanduser()
    if target.is_dir():
        raise UsageError(f"-o {args.output} is a folder; give a file name such as "
                         f"{Path(args.output) / 'dataset.h5'}")
    try:  # refuse a bad format before any discovery or loading
        fmt = resolve_format(target, args.format)
    except ValueError as exc:
        if args.format is not None:
            raise UsageError(str(exc)) from None
        raise UsageError(
            f"unsupported output file type {target.suffix!r} ({args.output}): use .pkl or "
            ".pickle (pickle) or .h5 or .hdf5 (HDF5), or --format pickle|hdf5") from None
    if fmt == "hdf5":
        _check_hdf5(args.hdf_key)
    ds = open_dataset(args)
    need_cells(ds, "build")
    started = time.perf_counter()
    saved = save_dataset(ds, target, format=fmt, strict=args.strict, hdf_key=args.hdf_key,
                         progress=show_progress(args), workers=args.workers,
                         executor=args.executor, return_errors=not args.strict)
    written, errors = saved.path, saved.errors
    elapsed = time.perf_counter() - started
    rows, cols = saved.shape
    print(f"wrote {written} ({fmt}, {human_size(written.stat().st_size)}) in {elapsed:.1f} s")
    print(f"  {out.plural(rows, 'row')} x {out.plural(cols, 'column')}: {counts_line(ds)}")
    note_conflicts(ds, args)
    if errors is not None:
        failed = errors[errors["status"] == "error"]
        if len(failed):
            lines = [f"{out.plural(len(failed), 'file')} failed to load; "
                     "their cells are empty (NaN) in the saved frame:"]
            lines += error_lines(failed, list(ds.inventory.index.names))
            print("\n".join(lines))
            return EXIT_FAILED
    return compat.shell_after_build(args, written)


# --------------------------------------------------------------------------------------
# profile, shell


def _saved_file(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no such file: {text}")
    if path.is_dir():
        raise UsageError(f"{text} is a folder; give a saved dataset ({', '.join(SAVED_SUFFIXES)})")
    if path.suffix.lower() not in SAVED_SUFFIXES:
        raise UsageError(f"unsupported file type {path.suffix or '(no suffix)'!r} for {text}: "
                         f"expected {', '.join(SAVED_SUFFIXES)}")
    return path


def _pickle_warning(path: Path) -> None:
    from ..safety import pickle_allowed
    from ..formats import is_pickle, pickle_warning

    if is_pickle(path) and pickle_allowed():
        print(pickle_warning(path), file=sys.stderr, flush=True)


def cmd_profile(args) -> int:
    from ..profile import profile_materialized

    path = _saved_file(args.file)
    _pickle_warning(path)
    report = profile_materialized(path, top_n_cells=args.top_cells, hdf_key=args.hdf_key)
    text = report.verbose(top_n_cells=args.top_cells) if args.verbose else report.summary()
    out.emit(text)
    if args.json:
        written = report.to_json(args.json)
        out.note(f"wrote JSON report to {written}")
    return EXIT_OK


def cmd_shell(args) -> int:
    from ..shell import open_shell

    if args.target is not None and not Path(args.target).expanduser().exists():
        raise FileNotFoundError(f"no such folder or file: {args.target}")
    try:
        return int(open_shell(args.target, hdf_key=args.hdf_key) or 0)
    except ValueError as exc:
        if args.target is not None and Path(args.target).is_file():
            raise UsageError(str(exc)) from None
        raise


# --------------------------------------------------------------------------------------
# demo, sources


def cmd_demo(args) -> int:
    from .. import demo

    root = Path(args.path).expanduser()
    if root.exists() and not root.is_dir():
        raise UsageError(f"{args.path} exists and is not a folder")
    if root.is_dir() and any(root.iterdir()):
        raise UsageError(f"{args.path} is not empty; give a new or empty folder")
    minimum = getattr(getattr(demo, "model", None), "MIN_DURATION_S", 10.0)
    if args.duration < minimum:
        raise UsageError(f"--duration must be at least {minimum:g} s, got {args.duration:g}")
    started = time.perf_counter()
    exp = demo.generate(root, subjects=args.subjects, sessions=args.sessions,
                        duration=args.duration, seed=args.seed, progress=show_progress(args))
    elapsed = time.perf_counter() - started
    files = [p for p in root.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    print(f"wrote a demo experiment to {root.resolve()} in {elapsed:.1f} s")
    print(f"  {out.plural(len(exp.subjects), 'subject')} x {out.plural(len(exp.sessions), 'session')}"
          f" x {out.plural(len(exp.tasks), 'task')}: {out.plural(len(exp.cells), 'recording')}, "
          f"{out.plural(len(files), 'file')}, {human_size(total)} "
          f"({exp.duration:g} s each, seed {exp.seed})")
    if exp.missing:
        whole = len(exp.missing_cells)
        print(f"  left out on purpose: {out.plural(len(exp.missing), 'file')}"
              + (f" ({out.plural(whole, 'task')} not recorded at all)" if whole else ""))
    for broken in exp.broken:
        cell = "/".join((broken.subject, broken.session, broken.task))
        print(f"  broken on purpose ({broken.tag}, {cell}): {_relative(broken.path, root)}")
        print(f"    {broken.what}")
    where = shell_args([args.path])
    print(f"try: datakit inspect {where}   then: datakit missing {where}   then: "
          f"datakit validate {where}")
    return EXIT_OK


def _relative(path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def cmd_cache(args) -> int:
    from .. import index

    path = index.default_path()
    if args.action == "clear":
        index.shared(path).close()
        removed = index.clear(path)
        print(f"removed {path}" if removed else f"no cache at {path}: nothing to clear")
        return EXIT_OK
    if not path.exists():
        print(f"no cache yet at {path} (it is written the first time an experiment is opened; "
              "DATAKIT_CACHE_DIR moves it)")
        return EXIT_OK
    info = index.Index(path).summary()
    print(f"cache: {info['path']} ({human_size(info['bytes'])})")
    print(f"  {info.get('folders', 0)} folders listed, {info.get('claims', 0)} files looked into, "
          f"{info.get('results', 0)} finished openings, {info.get('validations', 0)} validation outcomes")
    print("  'datakit cache clear' deletes it; DATAKIT_CACHE_DIR moves it")
    return EXIT_OK


def cmd_sources(args) -> int:
    import pandas as pd

    from ..sources.registry import registered_sources

    rows = []
    for tag, cls in registered_sources().items():
        rows.append({"tag": tag, "kind": cls.kind, "requires": list(cls.requires),
                     "patterns": list(cls.patterns),
                     "description": " ".join(str(cls.description or "").split()),
                     "class": f"{cls.__module__}:{cls.__qualname__}"})

    def render(fmt: str) -> str:
        if fmt == "json":
            return out.to_json(rows)
        if fmt == "csv":
            frame = pd.DataFrame(rows, columns=["tag", "kind", "requires", "patterns",
                                                "description", "class"])
            for column in ("requires", "patterns"):
                frame[column] = [";".join(v) for v in frame[column]]
            return out.to_csv(frame, index=False)
        return _sources_text(rows)

    emit_report(args, render)
    return EXIT_OK


def _sources_text(rows) -> str:
    if not rows:
        return "no source is registered"
    width = max(len(r["tag"]) for r in rows) + 2
    kind_width = max(len(r["kind"]) for r in rows) + 2
    pad = " " * width
    lines = [f"{len(rows)} registered sources (tag, kind, description; requires; files):", ""]
    for r in rows:
        lines.append(f"{r['tag']:<{width}}{r['kind']:<{kind_width}}{r['description']}")
        if r["requires"]:
            lines.append(f"{pad}requires: {', '.join(r['requires'])}")
        lines.append(f"{pad}files:    {', '.join(r['patterns'])}")
    return "\n".join(lines)


COMMANDS = {
    "inspect": cmd_inspect,
    "missing": cmd_missing,
    "validate": on_scheduler(cmd_validate),
    "build": on_scheduler(cmd_build),
    "profile": cmd_profile,
    "shell": cmd_shell,
    "demo": cmd_demo,
    "sources": cmd_sources,
    "cache": cmd_cache,
}

from . import compat as _compat  # noqa: E402  explore, convert (the earlier datakit's surface)

COMMANDS.update(_compat.COMMANDS)

from . import nwb as _nwb  # noqa: E402  export-nwb (issue 13)

COMMANDS.update(_nwb.COMMANDS)
