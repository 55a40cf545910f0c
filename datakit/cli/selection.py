"""What several sub-commands share: exit codes, discovery with the selection options,
and the lines that describe cells, conflicts and load errors."""
from __future__ import annotations

import functools
import sys
import warnings
from pathlib import Path

from ..formats import human_bytes
from . import output as out

from .exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE  # noqa: F401 - re-exported for the commands

PREFIXES = {"session": "ses-", "task": "task-"}
AXES = ("subject", "session", "task")


class UsageError(Exception):
    """A bad argument: exit status 2, one line on stderr."""


def show_progress(args) -> bool:
    """--progress / --no-progress, else a bar only when stderr is a terminal."""
    if getattr(args, "progress", None) is not None:
        return bool(args.progress)
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


# --------------------------------------------------------------------------------------
# discovery and filters (inspect, validate, build)


def option_values(raw, axis: str) -> list[str] | None:
    """Repeated/comma-separated option values, with the label prefix made canonical."""
    if not raw:
        return None
    values = []
    for item in raw:
        for value in item.split(","):
            value = value.strip()
            if not value:
                continue
            if axis == "subject" and value.startswith("sub-"):
                value = value[len("sub-"):]
            elif axis in PREFIXES and not value.startswith(PREFIXES[axis]):
                value = PREFIXES[axis] + value
            values.append(value)
    if not values:
        raise UsageError(f"--{axis.replace('_', '-')} needs a value")
    return values


def labels(ds, axis: str) -> list[str]:
    return {"subject": ds.subjects, "session": ds.sessions, "task": ds.tasks}[axis]


def apply_filters(ds, args):
    """--subject/--session/--task/--source -> include(); --exclude-* -> exclude()."""
    keep = {axis: option_values(getattr(args, axis, None), axis) for axis in (*AXES, "source")}
    drop = {axis: option_values(getattr(args, f"exclude_{axis}", None), axis)
            for axis in (*AXES, "source")}
    for axis in AXES:
        if axis == "task" and not ds.has_task_level and (keep[axis] or drop[axis]):
            raise UsageError("--task/--exclude-task cannot be used with --no-task-level "
                             "(rows are per session)")
        for values, option in ((keep[axis], f"--{axis}"), (drop[axis], f"--exclude-{axis}")):
            unknown = [v for v in values or () if v not in labels(ds, axis)]
            if unknown:
                out.warn(f"{option} {', '.join(unknown)} matches no cell "
                         f"(known {axis}s: {out.listing(labels(ds, axis))})")
    try:
        if any(v is not None for v in keep.values()):
            ds = ds.include(**keep)
        if any(v is not None for v in drop.values()):
            ds = ds.exclude(**drop)
    except KeyError as exc:  # an unknown source tag
        raise UsageError(f"{exc.args[0] if exc.args else exc} (see: datakit sources)") from None
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    return ds


def open_dataset(args):
    """Discover ``args.roots`` and apply the selection options."""
    from ..dataset import ConflictWarning, Dataset

    for root in args.roots:
        path = Path(root).expanduser()
        if not path.exists():
            raise UsageError(f"experiment folder not found: {root}")
        if not path.is_dir():
            raise UsageError(f"not a folder: {root} (give the experiment folder that holds data/)")
    settings = None
    if getattr(args, "path_map", None):
        from ..settings import get_settings

        settings = get_settings().replace(path_map=tuple(args.path_map))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConflictWarning)  # reported by inspect / noted below
        ds = Dataset.from_directory(
            list(args.roots), prefer_processed=args.prefer_processed,
            include_task_level=args.task_level, progress=show_progress(args),
            cache=getattr(args, "cache", True), settings=settings)
    if len(ds) == 0:  # discovery has warned that nothing was found
        return ds
    return apply_filters(ds, args)


def on_scheduler(command):
    """Run ``command(args)`` with ``args.executor``: None (this machine's processes), or
    with --scheduler the executor of a Dask client connected before any other work (a
    local:N cluster is started, and shut down when the command ends)."""

    @functools.wraps(command)
    def run(args) -> int:
        spec = getattr(args, "scheduler", None)
        args.executor = None
        if spec is None:
            if getattr(args, "path_map", None):
                raise UsageError("--path-map rewrites the paths sent to Dask workers: give "
                                 "--scheduler ADDRESS (or local:N) too")
            return command(args)
        if getattr(args, "workers", None) is not None:
            raise UsageError("--workers sets this machine's processes; with --scheduler the "
                             "cluster's workers load (local:N sets how many)")
        from .. import cluster

        try:
            connection = cluster.connect(spec)
        except (cluster.SchedulerUnreachable, ValueError, ImportError) as exc:
            raise UsageError(str(exc)) from None
        with connection:
            out.note(f"loading on {connection.describe()}")
            args.executor = connection.executor
            return command(args)

    return run


def selected_conflicts(ds):
    """Dataset.conflicts restricted to the selected cells and sources."""
    conflicts = ds.conflicts
    if len(conflicts) == 0:
        return conflicts
    names = [n for n in ds.inventory.index.names if n in conflicts.columns]
    cells = {tuple(str(k) for k in (key if isinstance(key, tuple) else (key,)))[: len(names)]
             for key in ds.inventory.index}
    keys = conflicts[names].astype(str).apply(tuple, axis=1) if names else None
    keep = conflicts["Source"].astype(str).isin(ds.sources)
    if keys is not None:
        keep &= keys.isin(cells)
    return conflicts[keep.to_numpy()]


def need_cells(ds, what: str) -> None:
    if len(ds) == 0:
        raise UsageError(f"nothing to {what}: no cell found or selected")
    if not ds.sources:
        raise UsageError(f"nothing to {what}: no source is selected")


def note_conflicts(ds, args) -> None:
    n = len(selected_conflicts(ds))
    if n:
        out.note(f"note: {out.plural(n, 'file')} lost to another file for the same cell and "
                 f"source; 'datakit inspect {shell_args(args.roots)}' lists them")


def shell_args(paths) -> str:
    """Paths as they would be typed in a shell (quoted where needed)."""
    import shlex

    return " ".join(shlex.quote(str(p)) for p in paths)


def expectation_rules(ds) -> str:
    """Which rules decide what is expected, in the order they apply."""
    parts = []
    protocol = ds.protocol
    if protocol is not None:
        declared = [t for t in protocol.expected if t != "*"]
        what = out.plural(len(declared), "task") + " declared"
        if "*" in protocol.expected:
            what += ", \"*\" for every task"
        if protocol.tasks:
            what += f", {out.plural(len(protocol.tasks), 'task')} per session"
        parts.append(f"{protocol.path or 'protocol'} ({what})")
    listed = ds.expected().isin(["manifest"]).to_numpy().sum()
    if listed:
        parts.append(f"manifest.json ({out.plural(int(listed), 'file')} decided by it)")
    parts.append("inference (a source most cells of a task have)")
    return "; then ".join(parts)


def cell_label(row, names) -> str:
    return "/".join(str(row[n]) for n in names if n in row and row[n] is not None)


def counts_line(ds) -> str:
    parts = [out.plural(len(ds.subjects), "subject"), out.plural(len(ds.sessions), "session")]
    if ds.has_task_level:
        parts.append(out.plural(len(ds.tasks), "task"))
    return f"{out.plural(len(ds), 'cell')} ({', '.join(parts)}), {out.plural(len(ds.sources), 'source')}"


def write_report(args, text_for) -> Path | None:
    """Write the machine-readable report for -o (format from --format or the suffix)."""
    fmt = out.resolve_output_format(args.format, args.output)
    return out.emit(text_for(fmt), args.output)


def error_lines(report, index_names) -> list[str]:
    lines = []
    for row in out.records(report[report["status"] == "error"], index=False):
        lines.append(f"  {row['Source']}  {cell_label(row, index_names)}")
        lines.append(f"    file: {row['path']}")
        message = out.without_path(row.get("message"), row.get("path"))
        lines.append(f"    {row.get('error_type') or 'error'}: {out.shorten(message, 200)}")
    return lines


def human_size(n_bytes: float) -> str:
    return human_bytes(n_bytes)
