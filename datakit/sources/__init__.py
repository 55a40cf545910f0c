"""Sources: the plugin contract (base), the registry, and the built-in lab sources."""
from .base import INTERVALS, TABLE, TIMESERIES, DataSource, LoadContext, LoadedStream
from .registry import (
    available_tags,
    dependency_order,
    get_source_class,
    register_source,
    registered_sources,
    unregister_source,
)
from .signals import Signal

__all__ = [
    "DataSource", "INTERVALS", "LoadContext", "LoadedStream", "Signal", "TABLE", "TIMESERIES",
    "available_tags", "dependency_order", "get_source_class", "register_source",
    "registered_sources", "unregister_source",
]
