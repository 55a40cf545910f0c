"""datakit: discover, validate, align and load a lab's BIDS-style experiment recordings.

The public API (see README):

>>> ds = datakit.Dataset.from_directory("/data/experiment")
>>> report = ds.validate(progress=True)
>>> df = ds.include(subject="STREHAB07").materialize(progress=True)
>>> ds.save("experiment.h5")
>>> df = datakit.load_dataset("experiment.h5")
"""
from __future__ import annotations

import logging
import os as _os

if _os.environ.get("DATAKIT_SAFE_MODE") == "1":  # the earlier datakit's switch: one BLAS thread
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                  "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
        _os.environ.setdefault(_name, "1")

from .api import inspect_sources, load, load_path
from .dataset import ConflictWarning, Dataset
from .errors import Cancelled, LoadError, PickleRefused
from .explore import explore  # the callable (binding the name replaces the submodule)
from .io import load_dataset, open_dataset
from .meta import build_meta, get_version
from .shell import open_shell
from .settings import Devices, Settings, configure, get_settings
from .sources.base import DataSource, LoadContext, LoadedStream
from .sources.registry import (
    PluginWarning,
    available_tags,
    get_source_class,
    register_source,
    registered_sources,
    unregister_source,
)
from .sources.signals import Signal

logger = logging.getLogger("datakit")
logger.addHandler(logging.NullHandler())

# Importing the submodule bound the name ``settings`` to the module, which would hide the
# ``settings`` value below (``from datakit import settings`` must give the Settings).
globals().pop("settings", None)


def get_logger(name: str | None = None) -> logging.Logger:
    """The ``datakit`` logger, or its child ``datakit.<name>``.

    Nothing is configured (no handler, no file, no excepthook): attach a handler or call
    ``logging.basicConfig`` in your script to see the messages.
    """
    if name is None or name in ("", "datakit"):
        return logger
    name = str(name)
    return logging.getLogger(name if name.startswith("datakit.") else f"datakit.{name}")


def __getattr__(name):
    if name in ("profile_materialized", "MaterializedMemoryReport"):
        from . import profile  # imported on first use: the CLI's --help stays light

        return getattr(profile, name)
    if name == "cluster":   # Dask: datakit.cluster.connect(...); distributed loads on use
        import importlib

        return importlib.import_module(".cluster", __name__)
    if name == "__version__":
        return get_version()
    if name == "settings":
        return get_settings()
    raise AttributeError(f"module 'datakit' has no attribute {name!r}")


__all__ = [
    "Cancelled", "ConflictWarning", "DataSource", "Dataset", "Devices", "LoadContext",
    "LoadError", "LoadedStream", "MaterializedMemoryReport", "PickleRefused", "PluginWarning",
    "Settings", "Signal", "available_tags", "build_meta", "configure", "get_settings",
    "get_source_class", "get_logger", "get_version", "explore", "inspect_sources", "load",
    "load_dataset", "load_path", "open_dataset", "open_shell", "profile_materialized", "register_source",
    "registered_sources", "unregister_source", "settings", "logger",
]
