"""The ``datakit`` command line: argparse definitions only (no pandas, no loading)."""
from __future__ import annotations

import argparse
import textwrap

from . import compat
from .output import FORMATS

PROG = "datakit"

DESCRIPTION = """\
Discover, check and load a BIDS-style experiment
(data/sub-<S>/ses-<N>/[beh|func]/..._task-<T>_<suffix>.<ext>, plus processed/).

A typical session:
  datakit inspect /data/exp                 what is there, what is missing
  datakit validate /data/exp                load every file, list the broken ones
  datakit build /data/exp -o exp.h5         one DataFrame, saved (pickle or HDF5)
  datakit shell exp.h5                      IPython with df loaded

Run 'datakit COMMAND --help' for the options of a command."""

from .exits import EPILOG  # noqa: E402 - one home for the exit statuses


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog):
        super().__init__(prog, max_help_position=32)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (plus where to look), not the whole usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _VersionAction(argparse.Action):
    """--version without running git at import time (get_version asks git)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="print the datakit version and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from ..meta import get_version

        print(f"datakit {get_version()}")
        parser.exit()


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def scheduler_spec(text: str) -> str:
    """--scheduler: an address (checked when connecting) or local:N with N >= 1."""
    from ..cluster import parse_local

    try:
        parse_local(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("--scheduler ", "", 1)) from None
    if not text.strip():
        raise argparse.ArgumentTypeError("empty; give HOST:PORT (e.g. tcp://scheduler:8786) or local:N")
    return text.strip()


def path_map_rule(text: str) -> tuple[str, str]:
    """--path-map FROM=TO, checked here so a typo fails before any work."""
    from ..pathmap import PathMapError, parse_rule

    try:
        return parse_rule(text)
    except PathMapError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --------------------------------------------------------------------------------------
# shared option groups


def _debug_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: "datakit --debug build ..." is not reset by the sub-command's default
    parent.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback when something goes wrong")
    return parent


def _add_roots(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("roots", metavar="ROOT", nargs="+",
                        help="experiment folder(s) holding data/ (and processed/); "
                             "several roots are merged, the first wins a conflict")


def _add_selection(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "selection",
        "Repeat an option or separate values with commas to give several; the\n"
        "sub-/ses-/task- prefix is optional (--session 05 means ses-05). --exclude-source\n"
        "with --exclude-subject/session/task blanks those sources in those rows only.")
    for axis, example in (("subject", "STREHAB07"), ("session", "ses-05"),
                          ("task", "widefield"), ("source", "treadmill")):
        group.add_argument(f"--{axis}", action="append", metavar=axis.upper(),
                           help=f"keep only this {axis} (e.g. {example})")
    for axis in ("subject", "session", "task", "source"):
        group.add_argument(f"--exclude-{axis}", action="append", metavar=axis.upper(),
                           help=f"leave out this {axis}")
    group.add_argument("--no-task-level", dest="task_level", action="store_false",
                       help="one row per (subject, session) instead of per task")
    group.add_argument("--prefer-data", dest="prefer_processed", action="store_false",
                       help="when data/ and processed/ both hold a file for a cell and "
                            "source, use the one under data/ (default: processed/)")
    group.add_argument("--no-cache", dest="cache", action="store_false",
                       help="walk every folder and load every file again, without the "
                            "per-user index (see: datakit cache)")
    compat.add_tags_alias(group)


def _add_run(parser: argparse.ArgumentParser, *, workers: bool = True) -> None:
    group = parser.add_argument_group("running")
    if workers:
        group.add_argument("--workers", type=positive_int, metavar="N",
                           help="load with N worker processes (default: one per core)")
    bar = group.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="always show a progress bar on stderr (default: only on a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_false",
                     help="never show a progress bar")


def _add_cluster(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "Dask cluster",
        "Load on a Dask cluster instead of this machine's cores (needs\n"
        "pip install 'datakit[distributed]'). Workers must see the experiment: where they\n"
        "mount it elsewhere, --path-map rewrites the paths sent to them.")
    group.add_argument("--scheduler", type=scheduler_spec, metavar="ADDRESS",
                       help="a running Dask scheduler (tcp://host:8786; the port defaults to "
                            "8786), or local:N to start a local cluster of N worker "
                            "processes for this command")
    group.add_argument("--path-map", dest="path_map", type=path_map_rule, action="append",
                       metavar="FROM=TO",
                       help="paths starting with FROM here start with TO on the workers, "
                            "e.g. 'Z:/lab=/mnt/lab' (repeatable; longest FROM wins)")


def _add_report_output(parser: argparse.ArgumentParser, what: str) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--format", choices=FORMATS, default=None,
                       help=f"how to print {what}: a readable table (default), CSV or JSON")
    group.add_argument("-o", "--output", metavar="FILE",
                       help=f"write {what} to FILE (format from --format, else from the "
                            ".csv/.json/.txt suffix) and print the readable summary")


def _command(subparsers, name: str, summary: str, examples: str, parents) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        name, help=summary, description=textwrap.fill(summary, 88), epilog="example:\n" + examples,
        formatter_class=_Formatter, parents=parents)


# --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    debug = _debug_parent()
    parser = _Parser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=_Formatter)
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("--debug", action="store_true", default=False,
                        help="show the full traceback when something goes wrong")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    p = _command(sub, "inspect", "Summarise what discovery found: coverage per source, "
                 "counts, skipped files and conflicts (opens no data file).",
                 "  datakit inspect /data/exp --subject STREHAB07\n"
                 "  datakit inspect /data/exp --format json -o inventory.json", [debug])
    _add_roots(p)
    _add_selection(p)
    _add_report_output(p, "the summary")
    p.add_argument("--all", action="store_true",
                   help="list every skipped file and conflict (default: the first 5 of each)")
    _add_run(p, workers=False)

    p = _command(sub, "missing", "List the recordings that should exist and do not "
                 "(declared in datakit.toml, listed in manifest.json, or inferred from the "
                 "other cells of a task); exit status 1 if any is missing (opens no data file).",
                 "  datakit missing /data/exp                     (a nightly check: exit 1 = something missing)\n"
                 "  datakit missing /data/exp --subject STREHAB07 -o missing.csv", [debug])
    _add_roots(p)
    _add_selection(p)
    _add_report_output(p, "the missing recordings")
    _add_run(p, workers=False)

    p = _command(sub, "validate", "Load every file and report ok / missing / error per "
                 "source; exit status 1 if any file failed to load.",
                 "  datakit validate /data/exp --workers 4\n"
                 "  datakit validate /data/exp --scheduler tcp://scheduler:8786 --path-map 'Z:/lab=/mnt/lab'\n"
                 "  datakit validate /data/exp -o report.csv     (the full report, tracebacks included)",
                 [debug])
    _add_roots(p)
    _add_selection(p)
    _add_report_output(p, "the full report")
    _add_run(p)
    _add_cluster(p)

    p = _command(sub, "build", "Load the selection into one DataFrame and save it "
                 "(pickle or HDF5).",
                 "  datakit build /data/exp -o exp.h5\n"
                 "  datakit build /data/exp --session ses-05 --no-strict -o ses05.pkl\n"
                 "  datakit build /data/exp --scheduler local:4 -o exp.h5", [debug])
    _add_roots(p)
    group = p.add_argument_group("output")
    group.add_argument("-o", "--output", metavar="OUT",
                       help="file to write: .pkl/.pickle (pickle) or .h5/.hdf5 (HDF5); default "
                            "ROOT/processed/YYMMDD_dataset_mvp.h5 (.pkl with -f pickle)")
    group.add_argument("-f", "--format", choices=("pickle", "pkl", "hdf5", "h5"), default=None,
                       metavar="{h5,pickle}",
                       help="file format (default: from the suffix of OUT, else h5)")
    group.add_argument("--hdf-key", default="dataset", metavar="KEY",
                       help="HDF5 group to write (default: %(default)s)")
    group.add_argument("--strict", action=argparse.BooleanOptionalAction, default=True,
                       help="stop at the first file that fails to load (default); with "
                            "--no-strict, save what loaded and list the failures "
                            "(exit status 1 if any)")
    _add_selection(p)
    _add_run(p)
    _add_cluster(p)
    compat.add_build_options(p)

    p = _command(sub, "profile", "Show where the memory of a saved dataset goes "
                 "(per source, per column, largest cells).",
                 "  datakit profile exp.h5 --verbose --top-cells 10 --json profile.json",
                 [debug])
    p.add_argument("file", metavar="FILE", help="a saved dataset (.pkl, .pickle, .h5, .hdf5)")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="add the per-column table and the largest cells")
    p.add_argument("--top-cells", type=non_negative_int, default=20, metavar="N",
                   help="how many of the largest cells to keep (default: %(default)s)")
    p.add_argument("--json", metavar="PATH", help="also write the whole report as JSON to PATH")
    p.add_argument("--hdf-key", default="dataset", metavar="KEY",
                   help="HDF5 group to read (default: %(default)s)")

    p = _command(sub, "shell", "Open IPython with datakit imported, and ds (a folder) "
                 "or df (a saved dataset) loaded.",
                 "  datakit shell /data/exp        (ds = Dataset.from_directory(...))\n"
                 "  datakit shell exp.h5           (df = load_dataset(...))", [debug])
    p.add_argument("target", metavar="TARGET", nargs="?",
                   help="an experiment folder or a saved dataset (.pkl, .pickle, .h5, .hdf5)")
    p.add_argument("--hdf-key", default="dataset", metavar="KEY",
                   help="HDF5 group to read (default: %(default)s)")

    p = _command(sub, "demo", "Write a realistic demo experiment (generated, with one "
                 "deliberately broken file) to try datakit on.",
                 "  datakit demo /tmp/demo-exp --subjects 2 --sessions 1 --duration 30\n"
                 "  datakit inspect /tmp/demo-exp", [debug])
    p.add_argument("path", metavar="PATH", help="folder to create (must be empty or new)")
    p.add_argument("--subjects", type=positive_int, default=3, metavar="N",
                   help="number of subjects (default: %(default)s)")
    p.add_argument("--sessions", type=positive_int, default=2, metavar="N",
                   help="sessions per subject (default: %(default)s)")
    p.add_argument("--duration", type=positive_float, default=60.0, metavar="SECONDS",
                   help="length of each recording in seconds (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    _add_run(p, workers=False)

    p = _command(sub, "cache", "Show or clear the per-user index that makes re-opening an "
                 "experiment fast and re-validation re-read only changed files.",
                 "  datakit cache          (where it is, its size, what it holds)\n"
                 "  datakit cache clear    (delete it; the next open walks every folder again)",
                 [debug])
    p.add_argument("action", nargs="?", choices=("info", "clear"), default="info",
                   help="info (default) or clear")

    p = _command(sub, "sources", "List the registered sources: tag, kind, requires, "
                 "file patterns and description.",
                 "  datakit sources\n  datakit sources --format csv -o sources.csv", [debug])
    _add_report_output(p, "the list")

    compat.add_commands(sub, _command, debug)  # explore, convert (the earlier datakit's surface)
    from . import nwb as _nwb

    _nwb.add_commands(sub, _command, debug)    # export-nwb (issue 13)
    return parser
