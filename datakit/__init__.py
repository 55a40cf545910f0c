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

from .api import inspect_sources, load, load_path
from .dataset import ConflictWarning, Dataset
from .errors import Cancelled, LoadError, PickleRefused
from .io import load_dataset
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


def __getattr__(name):
    if name in ("profile_materialized", "MaterializedMemoryReport"):
        from . import profile  # imported on first use: the CLI's --help stays light

        return getattr(profile, name)
    if name == "__version__":
        return get_version()
    if name == "settings":
        return get_settings()
    raise AttributeError(f"module 'datakit' has no attribute {name!r}")


__all__ = [
    "Cancelled", "ConflictWarning", "DataSource", "Dataset", "Devices", "LoadContext",
    "LoadError", "LoadedStream", "MaterializedMemoryReport", "PickleRefused", "PluginWarning",
    "Settings", "Signal", "available_tags", "build_meta", "configure", "get_settings",
    "get_source_class", "get_version", "inspect_sources", "load", "load_dataset", "load_path",
    "open_shell", "profile_materialized", "register_source", "registered_sources", "unregister_source",
]
