"""The one switch for unpickling: every loader that could unpickle asks here first.

Unpickling runs code stored in the file.  Places that can unpickle: pickled datasets
(``load_dataset``/``profile_materialized``/``open_shell`` on ``.pkl``), DeepLabCut
``*_full.pickle`` files, suite2p ``stat.npy``/``ops.npy``.  HDF5 loading in datakit's
layout never unpickles.  Safe mode (``allow_pickle=False`` or ``DATAKIT_ALLOW_PICKLE=0``)
makes all of them raise :class:`~datakit.errors.PickleRefused` instead.

One kind of file needs more than "not safe mode": a pandas ``to_hdf`` file (the earlier
implementation's ``.h5``) looks like a safe HDF5 file but holds pickles, so it opens
only with an explicit yes (:func:`pickle_explicitly_allowed`).
"""
from __future__ import annotations

import os

from .errors import PickleRefused

ENV_VAR = "DATAKIT_ALLOW_PICKLE"
_FALSE = {"0", "false", "no", "off"}


def pickle_allowed(allow_pickle: bool | None = None) -> bool:
    """Explicit ``allow_pickle`` wins; else settings; else the environment (default yes)."""
    if allow_pickle is not None:
        return bool(allow_pickle)
    from .settings import get_settings

    configured = get_settings().allow_pickle
    if configured is not None:
        return bool(configured)
    return os.environ.get(ENV_VAR, "1").strip().lower() not in _FALSE


def pickle_explicitly_allowed(allow_pickle: bool | None = None) -> bool:
    """True only for an explicit yes: ``allow_pickle=True``, ``Settings(allow_pickle=True)``
    or ``DATAKIT_ALLOW_PICKLE`` set to a true value (1, true, yes, on)."""
    if allow_pickle is not None:
        return bool(allow_pickle)
    from .settings import get_settings

    configured = get_settings().allow_pickle
    if configured is not None:
        return bool(configured)
    return os.environ.get(ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def require_pickle_allowed(path, what: str, allow_pickle: bool | None = None) -> None:
    """Raise PickleRefused naming the file unless unpickling is allowed."""
    if not pickle_allowed(allow_pickle):
        raise PickleRefused(
            f"refusing to unpickle {what} {os.fspath(path)!s}: safe mode is on "
            f"(allow_pickle=False or {ENV_VAR}=0). Unpickling runs code stored in the "
            "file; open it only if you trust where it came from."
        )
