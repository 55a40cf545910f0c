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
from .meta import build_meta, get_version
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

logger = logging.getLogger("datakit")
logger.addHandler(logging.NullHandler())


def load_dataset(path, *, hdf_key="dataset", allow_pickle=None):
    """Load a previously materialized dataset (``.pkl``/``.pickle`` or ``.h5``/``.hdf5``).

    Loading a pickle runs code stored in the file: open only files you trust
    (``allow_pickle=False`` or ``DATAKIT_ALLOW_PICKLE=0`` refuses).  HDF5 never unpickles.
    """
    from .io import load_dataset as _load_dataset

    return _load_dataset(path, hdf_key=hdf_key, allow_pickle=allow_pickle)


def profile_materialized(target, *, top_n_cells=20, source_path=None):
    """Build a MaterializedMemoryReport from a DataFrame or a saved file."""
    from .profile import profile_materialized as _profile

    return _profile(target, top_n_cells=top_n_cells, source_path=source_path)


def open_shell(target=None, *, hdf_key="dataset"):
    """Open an interactive IPython shell pre-loaded with datakit (and ``ds``/``df``)."""
    from .shell import open_shell as _open_shell

    return _open_shell(target, hdf_key=hdf_key)


def __getattr__(name):
    if name == "MaterializedMemoryReport":
        from .profile import MaterializedMemoryReport

        return MaterializedMemoryReport
    if name == "__version__":
        return get_version()
    if name == "settings":
        return get_settings()
    raise AttributeError(f"module 'datakit' has no attribute {name!r}")


__all__ = [
    "Cancelled", "ConflictWarning", "DataSource", "Dataset", "Devices", "LoadContext",
    "LoadError", "LoadedStream", "MaterializedMemoryReport", "PickleRefused", "PluginWarning",
    "Settings", "available_tags", "build_meta", "configure", "get_settings", "get_source_class",
    "get_version", "inspect_sources", "load", "load_dataset", "load_path", "open_shell",
    "profile_materialized", "register_source", "registered_sources", "unregister_source",
]
