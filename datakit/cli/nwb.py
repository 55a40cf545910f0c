"""``datakit export-nwb ROOT -o FOLDER [filters]``: one NWB file per cell (issue 13).

Kept in its own module (parser additions and the command) so the rest of the CLI stays
as it is; :func:`add_commands` is called by the parser, :data:`COMMANDS` merged into
the command table.
"""
from __future__ import annotations

import time
from pathlib import Path

from . import output as out
from .selection import (EXIT_FAILED, EXIT_OK, UsageError, cell_label, counts_line, human_size,
                        need_cells, note_conflicts, open_dataset, show_progress)

SHOWN = 10   # skipped cells and failures listed without --report


def add_commands(sub, command, debug) -> None:
    """The ``export-nwb`` sub-command (``command`` is parser._command)."""
    from .parser import _add_roots, _add_run, _add_selection

    p = command(sub, "export-nwb", "Export each cell of the selection, on its master clock, "
                "to one NWB file named by DANDI's convention "
                "(sub-<S>/sub-<S>_ses-<N>_task-<T>_<modalities>.nwb), ready for "
                "nwbinspector and 'dandi upload'.",
                "  datakit export-nwb /data/exp -o /data/exp-nwb\n"
                "  datakit export-nwb /data/exp -o nwb/ --subject STREHAB07 --report nwb-report.csv\n"
                "  nwbinspector nwb/ && (cd <dandiset> && dandi upload)", [debug])
    _add_roots(p)
    group = p.add_argument_group("output")
    group.add_argument("-o", "--output", metavar="FOLDER", required=True,
                       help="folder to write the sub-<subject>/ folders into (created if missing)")
    group.add_argument("--overwrite", action="store_true",
                       help="replace NWB files of these cells that already exist (default: refuse "
                            "before writing anything)")
    group.add_argument("--timezone", metavar="ZONE",
                       help="the rig's time zone for session_start_time, e.g. America/Los_Angeles "
                            "(default: the offset PsychoPy recorded, else this computer's zone)")
    group.add_argument("--report", metavar="FILE",
                       help="write the full report (every source and feature: where it went in "
                            "the file, or why it was left out) as .csv or .json")
    _add_selection(p)
    _add_run(p)


def cmd_export_nwb(args) -> int:
    import importlib.util

    if importlib.util.find_spec("pynwb") is None:
        raise UsageError("NWB export needs pynwb: pip install 'datakit[nwb]'")
    folder = Path(args.output).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"-o {args.output} is a file; give a folder for the NWB files")
    report_format = None
    if args.report is not None:
        report_format = out.resolve_output_format(None, args.report)
        if report_format not in ("csv", "json"):
            raise UsageError(f"--report {args.report}: use a .csv or .json file name")
    if args.timezone is not None:
        _check_zone(args.timezone)
    ds = open_dataset(args)
    need_cells(ds, "export")
    started = time.perf_counter()
    try:
        paths, report = ds.to_nwb(folder, overwrite=args.overwrite, progress=show_progress(args),
                                  workers=args.workers, timezone=args.timezone)
    except FileExistsError as exc:
        raise UsageError(str(exc.strerror).replace("overwrite=True (--overwrite)", "--overwrite")) from None
    elapsed = time.perf_counter() - started
    size = sum(p.stat().st_size for p in paths)
    print(f"wrote {out.plural(len(paths), 'NWB file')} ({human_size(size)}) to {folder} "
          f"in {elapsed:.1f} s: {counts_line(ds)}")
    for path in paths[:SHOWN]:
        print(f"  {path.relative_to(folder.absolute()) if path.is_relative_to(folder.absolute()) else path}")
    if len(paths) > SHOWN:
        print(f"  ... {len(paths) - SHOWN} more")
    names = list(ds.inventory.index.names)
    status = report["status"] if len(report) else report.get("status")
    skipped = report[status == "skipped"] if len(report) else report
    failed = report[status == "failed"] if len(report) else report
    left = report[status == "left out"] if len(report) else report
    if len(skipped):
        print(f"{out.plural(len(skipped), 'cell')} skipped (no file written):")
        for row in out.records(skipped.head(SHOWN), index=False):
            print(f"  {cell_label(row, names)}: {out.shorten(row['note'], 200)}")
    if len(failed):
        print(f"{out.plural(len(failed), 'source')} failed to load; each file names them in its notes:")
        for row in out.records(failed.head(SHOWN), index=False):
            print(f"  {row['Source']}  {cell_label(row, names)}: {out.shorten(row['note'], 200)}")
    if len(left):
        kinds = left.groupby("Source")["Feature"].nunique().to_dict()
        n_files = left["file"].nunique()
        print(f"left out: {out.plural(len(left), 'feature')} in {out.plural(n_files, 'file')} "
              "(distinct features by source: "
              + ", ".join(f"{s} {n}" for s, n in kinds.items()) + "); "
              + ("--report lists them with the reason" if args.report is None else "see the report"))
    if args.report is not None:
        text = out.to_csv(report, index=False) if report_format == "csv" else \
            out.to_json(out.records(report, index=False))
        out.note(f"wrote the report to {out.emit(text, args.report)}")
    note_conflicts(ds, args)
    if len(paths):
        print(f"check them with: nwbinspector {folder}")
    return EXIT_FAILED if len(failed) else EXIT_OK


def _check_zone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--timezone {name}: not a time zone name (e.g. Europe/Berlin, "
                         "America/Los_Angeles, UTC)") from None


COMMANDS = {"export-nwb": cmd_export_nwb}
