"""The file formats of saved datasets (suffixes, what to say about pickles) and how
datakit writes a number of bytes.

One home for these facts; the library, the command line, the shell and the desktop app
import them from here.
"""
from __future__ import annotations

PICKLE_SUFFIXES = (".pkl", ".pickle")
HDF5_SUFFIXES = (".h5", ".hdf5")
#: Every suffix a saved (materialized) dataset may have.
SAVED_SUFFIXES = PICKLE_SUFFIXES + HDF5_SUFFIXES
#: Suffix -> format name.
FORMAT_OF_SUFFIX = {**dict.fromkeys(PICKLE_SUFFIXES, "pickle"), **dict.fromkeys(HDF5_SUFFIXES, "hdf5")}
#: The suffix a new file of each format gets.
DEFAULT_SUFFIX = {"hdf5": ".h5", "pickle": ".pkl"}

#: Why opening a pickle is a matter of trust (said before one is opened, everywhere).
PICKLE_RISK = ("unpickling runs code stored in the file, so open it only if you trust where "
               "it came from; HDF5 files (.h5) are always safe to open")


def is_pickle(path) -> bool:
    return str(path).lower().endswith(PICKLE_SUFFIXES)


def is_hdf5(path) -> bool:
    return str(path).lower().endswith(HDF5_SUFFIXES)


def pickle_warning(path) -> str:
    """The one-line warning printed before a pickle is opened on the command line."""
    return f"warning: {path} is a pickle; {PICKLE_RISK} (DATAKIT_ALLOW_PICKLE=0 refuses)"


def human_bytes(n) -> str:
    """A size in binary units: 1536 -> "1.5 KiB" (None -> "size unknown")."""
    if n is None:
        return "size unknown"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def plural(n: int, word: str, many: str | None = None) -> str:
    """``3 files``, ``1 file`` (``many`` for irregular plurals)."""
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"
