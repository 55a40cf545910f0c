"""What the earlier ``mesofield datakit`` command offered, on the ``datakit`` command.

Kept in one place so the rest of the CLI stays as it is (reference §3.16):

* ``-t/--tags TAG`` on inspect, validate and build: the same as ``--source``;
* ``build``: ``-f/--format h5|pickle``, the default output
  ``<ROOT>/processed/<YYMMDD>_dataset_mvp.h5`` (``.pkl`` with ``-f pickle``) when ``-o``
  is not given, and ``--shell`` (open the shell on the written file);
* ``datakit explore TARGET [--hdf-key KEY]``: ``datakit.explore``'s report of a folder
  (discovery only) or a saved dataset;
* ``datakit convert OLD NEW``: rewrite an earlier ``.h5`` (pandas ``to_hdf``) or a pickle
  into datakit's pickle-free HDF5 layout, atomically;
* ``datakit TARGET`` (a folder or saved file, no command) opens the shell, as
  ``python -m mesofield.datakit TARGET`` did.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

DEFAULT_STEM = "_dataset_mvp"
from ..formats import DEFAULT_SUFFIX  # noqa: E402 - one home for the suffixes


# --------------------------------------------------------------------------------------
# parser additions


def add_tags_alias(group) -> None:
    """``-t/--tags`` appending to the same list as ``--source``."""
    group.add_argument("-t", "--tags", dest="source", action="append", metavar="TAG",
                       help="same as --source (the earlier datakit's option)")


def add_build_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("after saving")
    group.add_argument("--shell", action="store_true",
                       help="open the datakit shell on the written file (df loaded)")


def add_commands(sub, command, debug) -> None:
    """The ``explore`` and ``convert`` sub-commands (``command`` is parser._command)."""
    p = command(sub, "explore", "Print a structural report: of an experiment folder (what "
                "discovery found; no data file is read) or of a saved dataset (sources, "
                "features, types, coverage).",
                "  datakit explore /data/exp\n  datakit explore exp.h5", [debug])
    p.add_argument("target", metavar="TARGET",
                   help="an experiment folder or a saved dataset (.pkl, .pickle, .h5, .hdf5)")
    p.add_argument("--hdf-key", default="dataset", metavar="KEY",
                   help="HDF5 group to read (default: %(default)s)")

    p = command(sub, "convert", "Rewrite a saved dataset (an .h5 written by mesofield's "
                "datakit, which holds pickles, or a .pkl) into datakit's pickle-free HDF5 "
                "layout. The new file is written atomically; the old one is not touched.",
                "  datakit convert old_dataset_mvp.h5 dataset.h5\n"
                "  datakit convert results.pkl results.h5 --force", [debug])
    p.add_argument("old", metavar="OLD", help="the file to convert (.h5, .hdf5, .pkl, .pickle)")
    p.add_argument("new", metavar="NEW", help="the file to write (.h5 or .hdf5)")
    p.add_argument("--hdf-key", default="dataset", metavar="KEY",
                   help="HDF5 group to read from OLD and write in NEW (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="replace NEW if it exists")


# --------------------------------------------------------------------------------------
# build


def default_output(args, fmt_option) -> Path:
    """``<first ROOT>/processed/<YYMMDD>_dataset_mvp.<h5|pkl>`` (HDF5 unless -f pickle)."""
    from ..io import resolve_format

    fmt = resolve_format("x", fmt_option) if fmt_option is not None else "hdf5"
    stem = datetime.now().strftime("%y%m%d") + DEFAULT_STEM
    return Path(args.roots[0]).expanduser() / "processed" / (stem + DEFAULT_SUFFIX[fmt])


def shell_after_build(args, written: Path) -> int:
    if not getattr(args, "shell", False):
        return 0
    from ..shell import open_shell

    sys.stdout.flush()
    return int(open_shell(written, hdf_key=args.hdf_key) or 0)


# --------------------------------------------------------------------------------------
# explore, convert


def cmd_explore(args) -> int:
    from ..explore import SAVED_SUFFIXES, explore, render
    from .selection import EXIT_OK, UsageError

    path = Path(args.target).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no such folder or file: {args.target}")
    if path.is_file():
        if path.suffix.lower() not in SAVED_SUFFIXES:
            raise UsageError(f"cannot explore {args.target}: expected an experiment folder or a "
                             f"saved dataset ({', '.join(SAVED_SUFFIXES)})")
        if path.suffix.lower() in (".pkl", ".pickle"):
            _warn_pickle(path)
    report = explore(path, print_output=False, hdf_key=args.hdf_key)
    from . import output as out

    out.emit(render(report))
    return EXIT_OK


def cmd_convert(args) -> int:
    from ..io import load_dataset
    from ..legacy import check_convert_paths, convert
    from .output import plural
    from .selection import EXIT_OK, UsageError, human_size

    try:     # every check before anything is read: a usage error, said as convert says it
        old, _ = check_convert_paths(args.old, args.new, overwrite=args.force)
    except (ValueError, IsADirectoryError, FileExistsError) as exc:
        raise UsageError(str(exc)) from None
    _warn_pickle(old, args.hdf_key)
    written = convert(old, args.new, hdf_key=args.hdf_key, overwrite=args.force)
    df = load_dataset(written, hdf_key=args.hdf_key)
    rows, cols = df.shape
    print(f"wrote {written} (datakit HDF5, {human_size(written.stat().st_size)}): "
          f"{plural(rows, 'row')} x {plural(cols, 'column')} from {old}")
    return EXIT_OK


def _warn_pickle(path: Path, hdf_key: str = "dataset") -> None:
    """The one-line warning before unpickling a pickle or an earlier pandas .h5."""
    from ..formats import is_hdf5, is_pickle, pickle_warning
    from ..legacy import pandas_hdf_keys
    from ..safety import pickle_allowed

    if not pickle_allowed():
        return  # safe mode: the loader refuses with its own message
    if is_pickle(path):
        print(pickle_warning(path), file=sys.stderr, flush=True)
    elif is_hdf5(path) and hdf_key.strip("/") in (pandas_hdf_keys(path) or {}):
        print(pickle_warning(path).replace(
            "is a pickle", "is a pandas .h5 (mesofield's datakit) holding pickles"),
            file=sys.stderr, flush=True)


COMMANDS = {"explore": cmd_explore, "convert": cmd_convert}


def shell_shortcut(argv, commands) -> list | None:
    """``datakit TARGET [--hdf-key KEY]`` -> ``datakit shell TARGET ...`` when TARGET is an
    existing folder or file and not a command name."""
    if not argv:
        return None
    first = str(argv[0])
    if first.startswith("-") or first in commands:
        return None
    if Path(first).expanduser().exists():
        return ["shell", *argv]
    return None
