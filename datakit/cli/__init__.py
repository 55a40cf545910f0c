"""The ``datakit`` command: inspect, validate, build, profile, shell, demo, sources, explore, convert.

``main(argv)`` returns the exit status: 0 success, 1 something failed (a file did not
load, a save failed), 2 usage error (bad option, unsupported format, folder or file not
found), 130 interrupted.  Errors are one line on stderr; ``--debug`` adds the traceback.
Installed as the ``datakit`` console script and runnable as ``python -m datakit``.
"""
from __future__ import annotations

import os
import sys
import traceback
import warnings

from . import output as out
from .commands import COMMANDS, UsageError
from .exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from .parser import build_parser

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERRUPTED"]



def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Library warnings as one ``datakit: warning: ...`` line (no source line dump)."""
    out.warn(f"{message}")


def _classify(exc: BaseException) -> tuple[int, str, bool]:
    """(exit status, one-line message, whether to hint at --debug) for an exception."""
    from ..errors import Cancelled, LoadError, PickleRefused

    from ..pathmap import PathMapError

    if isinstance(exc, (UsageError, PathMapError)):   # a path map that does not fit: usage
        return EXIT_USAGE, str(exc), False
    if isinstance(exc, LoadError):
        where = f"subject {exc.subject}, session {exc.session}"
        if exc.task is not None:
            where += f", task {exc.task}"
        return EXIT_FAILED, (
            f"source {exc.source!r} failed to load for {where}: {exc.path}: "
            f"{exc.error_type}: {out.one_line(out.without_path(exc.message, exc.path))} "
            "(--no-strict saves what loaded and lists every failure)"), False
    if isinstance(exc, PickleRefused):
        return EXIT_FAILED, str(exc), False
    if isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError)):
        return EXIT_USAGE, _os_message(exc), False
    if isinstance(exc, Cancelled):
        return EXIT_INTERRUPTED, "cancelled", False
    if isinstance(exc, OSError):
        return EXIT_FAILED, _os_message(exc), False
    if isinstance(exc, ImportError):
        return EXIT_FAILED, f"{exc} (is the optional dependency installed?)", True
    return EXIT_FAILED, f"{type(exc).__name__}: {exc}", True


def _os_message(exc: OSError) -> str:
    if exc.filename is not None and exc.strerror:
        return f"{exc.strerror}: {os.fsdecode(exc.filename)}"
    return str(exc)


def main(argv=None) -> int:
    """Run the ``datakit`` command line with ``argv`` (default ``sys.argv[1:]``)."""
    out.make_streams_safe()
    from .compat import shell_shortcut

    shortcut = shell_shortcut(sys.argv[1:] if argv is None else list(argv), COMMANDS)
    if shortcut is not None:  # "datakit TARGET" opens the shell, like the earlier datakit
        argv = shortcut
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or an argparse usage error
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USAGE)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("\ndatakit: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader (e.g. "| head") went away: stop quietly, without a second error at exit
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return EXIT_FAILED
    except Exception as exc:
        status, message, hint = _classify(exc)
        if debug:
            traceback.print_exc()
        elif hint:
            message += " (run with --debug for the traceback)"
        print(f"datakit {args.command}: error: {out.one_line(message)}", file=sys.stderr, flush=True)
        return status


def run() -> None:  # pragma: no cover - the console-script style entry
    sys.exit(main())
