"""An interactive IPython shell with datakit and an experiment (``ds``) or a saved frame (``df``).

>>> datakit.open_shell("/data/experiment")      # ds = Dataset.from_directory(...)
>>> datakit.open_shell("experiment.h5")         # df = load_dataset(...)

The namespace holds the names of both implementations: ``ds`` and ``dataset`` (the same
Dataset), ``inventory`` and ``report`` (``datakit.explore``'s report) for a folder;
``df`` and ``report`` for a saved frame; ``datakit``, ``explore``, ``pd`` and ``np``
always (reference §3.13).

:func:`build_namespace` does the loading and writes the banner without a terminal, so it
can be tested and reused (the CLI's ``datakit shell`` calls :func:`open_shell`).
IPython is used when it is installed (``pip install datakit[console]``), the standard
library's ``code.interact`` otherwise.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .io import EAGER_LOAD_BYTES

from .formats import HDF5_SUFFIXES, PICKLE_SUFFIXES, pickle_warning, plural


def _list(items, limit: int = 8) -> str:
    items = [str(i) for i in items]
    if len(items) <= limit:
        return ", ".join(items) or "none"
    return ", ".join(items[:limit]) + f", ... (+{len(items) - limit} more)"


def _dataset_banner(ds, path: Path) -> str:
    parts = [plural(len(ds.subjects), "subject"), plural(len(ds.sessions), "session")]
    if ds.has_task_level:
        parts.append(plural(len(ds.tasks), "task"))
    lines = [
        f"ds = Dataset.from_directory({', '.join(repr(str(r)) for r in ds.roots) or repr(str(path))})",
        f"     {plural(len(ds), 'cell')} ({', '.join(parts)}) x {plural(len(ds.sources), 'source')}",
        f"     sources: {_list(ds.sources)}",
    ]
    skipped, conflicts = len(ds.skipped), len(ds.conflicts)
    if skipped or conflicts:
        lines.append(f"     {plural(skipped, 'file')} skipped (ds.skipped), "
                     f"{plural(conflicts, 'conflict')} (ds.conflicts)")
    lines.append("     try: ds.validate(progress=True); df = ds.materialize(progress=True)")
    return "\n".join(lines)


def _frame_sources(df) -> list[str]:
    sources = df.attrs.get("datakit_sources") if isinstance(df.attrs, dict) else None
    if sources:
        return [str(s) for s in sources]
    columns = df.columns
    if getattr(columns, "nlevels", 1) >= 2:
        return list(dict.fromkeys(str(s) for s in columns.get_level_values(0)))
    return []


def _frame_banner(df, path: Path) -> str:
    rows, cols = df.shape
    sources = _frame_sources(df)
    return "\n".join([
        f"df = load_dataset({str(path)!r})",
        f"     {plural(rows, 'row')} x {plural(cols, 'column')}; "
        f"{plural(len(sources), 'source')}: {_list(sources)}",
    ])


def build_namespace(target=None, *, hdf_key: str = "dataset") -> tuple[dict, str]:
    """The shell's namespace and banner for ``target``.

    Always holds ``datakit`` and ``explore`` (plus ``pd`` and ``np``).  A folder adds
    ``ds`` and ``dataset`` (``Dataset.from_directory``, the same object), ``inventory``
    and ``report`` (the inventory report); a saved dataset
    (``.pkl``/``.pickle``/``.h5``/``.hdf5``) adds ``df`` (``load_dataset``) and ``report``
    (the materialized report); an ``.h5`` in datakit's layout also adds ``saved``
    (``open_dataset``), and when its values take more than ``EAGER_LOAD_BYTES`` only
    ``saved`` (nothing is loaded: ``saved.cell(key)``, ``saved.load(...)``).  Loading a pickle prints a one-line warning on stderr
    first, and safe mode (``DATAKIT_ALLOW_PICKLE=0``) refuses it with
    :class:`~datakit.PickleRefused`.  A path that does not exist raises
    ``FileNotFoundError``; another kind of file raises ``ValueError``.
    """
    import numpy as np
    import pandas as pd

    import datakit

    from .explore import explore

    namespace: dict = {"datakit": datakit, "explore": explore, "pd": pd, "np": np}
    lines = [f"datakit {datakit.get_version()}: datakit, explore, pd and np are imported."]
    if target is None:
        lines.append("No experiment loaded: ds = datakit.Dataset.from_directory(path) "
                     "or df = datakit.load_dataset(path)")
        return namespace, "\n".join(lines)

    path = Path(os.fspath(target)).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no such folder or file: {path}")
    if path.is_dir():
        ds = datakit.Dataset.from_directory(path)
        namespace.update(ds=ds, dataset=ds, inventory=ds.inventory,
                         report=explore(ds, print_output=False))
        lines.append(_dataset_banner(ds, path))
        lines.append("     also: dataset (= ds), inventory (= ds.inventory), "
                     "report (explore(ds, print_output=False))")
    else:
        suffix = path.suffix.lower()
        if suffix not in PICKLE_SUFFIXES + HDF5_SUFFIXES:
            raise ValueError(
                f"cannot open {path} in the shell: expected an experiment folder or a saved "
                f"dataset ({', '.join(PICKLE_SUFFIXES + HDF5_SUFFIXES)}), got {suffix or 'no suffix'!r}")
        if suffix in PICKLE_SUFFIXES:
            from .safety import pickle_allowed

            if pickle_allowed():  # safe mode refuses in load_dataset with its own message
                print(pickle_warning(path), file=sys.stderr, flush=True)
        saved = _lazy(path, hdf_key) if suffix in HDF5_SUFFIXES else None
        if saved is not None:
            namespace["saved"] = saved
        if saved is not None and saved.nbytes > EAGER_LOAD_BYTES:
            lines.append(_saved_banner(saved, path))
            return namespace, "\n".join(lines)
        df = saved.load() if saved is not None else datakit.load_dataset(path, hdf_key=hdf_key)
        namespace.update(df=df, report=explore(df, print_output=False))
        lines.append(_frame_banner(df, path))
        lines.append("     also: report (explore(df, print_output=False))"
                     + ("; saved (open_dataset: saved.cell(key), saved.load(...))" if saved else ""))
    return namespace, "\n".join(lines)


def _lazy(path: Path, hdf_key: str):
    """``open_dataset(path)`` for a file in datakit's HDF5 layout, else None (an earlier
    pandas .h5 is then loaded by load_dataset, which says what it needs)."""
    from .legacy import pandas_hdf_keys

    if hdf_key.strip("/") in (pandas_hdf_keys(path) or {}):
        return None
    from .io import open_dataset

    return open_dataset(path, hdf_key=hdf_key)


def _saved_banner(saved, path: Path) -> str:
    rows, cols = saved.shape
    size = saved.nbytes / 2**30
    return "\n".join([
        f"saved = open_dataset({str(path)!r})   (not loaded: its values take {size:.1f} GB)",
        f"     {plural(rows, 'row')} x {plural(cols, 'column')}; "
        f"{plural(len(saved.sources), 'source')}: {_list(saved.sources)}",
        "     try: saved.index; saved.cell(saved.index[0]); "
        "df = saved.load(subject=..., source=...)",
    ])


def _running_ipython():
    """The IPython shell this code already runs in, or None."""
    ipython_module = sys.modules.get("IPython")
    if ipython_module is None:
        return None
    try:
        return ipython_module.get_ipython()
    except Exception:
        return None


def open_shell(target=None, *, hdf_key: str = "dataset") -> int:
    """Open an interactive shell pre-loaded with datakit (and ``ds``/``df``); returns 0.

    Inside a running IPython session (a notebook, a console) the names are pushed
    into that session instead of starting a shell within the shell.
    """
    namespace, banner = build_namespace(target, hdf_key=hdf_key)
    running = _running_ipython()
    if running is not None:
        running.push(namespace)
        print(banner)
        return 0
    try:
        import IPython
        from traitlets.config import Config
    except ImportError:
        return _stdlib_shell(namespace, banner)
    config = Config()
    config.TerminalInteractiveShell.banner2 = banner + "\n"
    config.TerminalIPythonApp.display_banner = True
    if not _stdin_is_terminal():  # piped input: end at EOF without asking
        config.TerminalInteractiveShell.confirm_exit = False
    IPython.start_ipython(argv=[], user_ns=namespace, config=config)
    return 0


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _stdlib_shell(namespace: dict, banner: str) -> int:
    import code

    header = (f"Python {sys.version.split()[0]} (IPython not installed: "
              "pip install 'datakit[console]' for a better shell)\n" + banner)
    try:
        code.interact(banner=header, local=namespace, exitmsg="")
    except SystemExit:  # exit()/quit() end the console, not the program
        pass
    return 0
