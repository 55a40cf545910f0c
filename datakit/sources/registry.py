"""The source registry: built-ins, ``datakit.sources`` entry points, ``register_source``.

Built-in sources are declared as entry points in ``pyproject.toml`` like any plugin;
they are also imported directly so a source checkout that was never installed works.
A duplicate tag is an error for :func:`register_source` and a warning for entry points;
a plugin that fails to import is a warning and the rest keep working.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import logging
import threading
import warnings

from .base import KINDS, DataSource
from .signals import declared_signals

logger = logging.getLogger("datakit")

ENTRY_POINT_GROUP = "datakit.sources"

#: Modules holding the built-in sources (imported even without an installed
#: distribution; the entry points in pyproject.toml name the same classes).
BUILTIN_MODULES = (
    "datakit.sources.dataqueue",
    "datakit.sources.treadmill",
    "datakit.sources.camera_metadata",
    "datakit.sources.meso_traces",
    "datakit.sources.session",
    "datakit.sources.wheel",
    "datakit.sources.psychopy",
    "datakit.sources.pupil_dlc",
    "datakit.sources.mesomap",
    "datakit.sources.suite2p",
)

_registry: dict[str, type[DataSource]] = {}
_builtins_loaded = False
_lock = threading.RLock()


class PluginWarning(UserWarning):
    """A third-party source could not be registered (the others still work)."""


def _check_source_class(cls) -> None:
    if not (isinstance(cls, type) and issubclass(cls, DataSource)):
        raise TypeError(f"a source must be a DataSource subclass, got {cls!r}")
    if not isinstance(cls.tag, str) or not cls.tag:
        raise TypeError(f"{cls.__name__}.tag must be a non-empty string")
    if isinstance(cls.patterns, str) or not all(isinstance(p, str) for p in cls.patterns):
        raise TypeError(f"{cls.__name__}.patterns must be a tuple of glob strings")
    if not cls.patterns:
        raise TypeError(f"{cls.__name__}.patterns is empty: discovery could never find it")
    if isinstance(cls.requires, str) or not all(isinstance(r, str) for r in cls.requires):
        raise TypeError(f"{cls.__name__}.requires must be a tuple of tags")
    if cls.kind not in KINDS:
        raise TypeError(f"{cls.__name__}.kind must be one of {KINDS}, got {cls.kind!r}")
    declared_signals(cls)       # TypeError when signals holds something that is not a Signal


def _add(cls, *, origin: str, strict: bool) -> None:
    existing = _registry.get(cls.tag)
    if existing is cls:
        return
    if existing is not None:
        message = (
            f"source tag {cls.tag!r} from {origin} ({cls.__module__}.{cls.__qualname__}) "
            f"is already registered by {existing.__module__}.{existing.__qualname__}"
        )
        if strict:
            raise ValueError(message + "; choose another tag or unregister_source() first")
        warnings.warn(message + "; keeping the first", PluginWarning, stacklevel=3)
        return
    _registry[cls.tag] = cls


def _load_entry_points() -> None:
    try:
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception as exc:  # a broken metadata folder must not stop datakit
        warnings.warn(f"could not read {ENTRY_POINT_GROUP!r} entry points: {exc}", PluginWarning)
        return
    for ep in sorted(entry_points, key=lambda e: e.name):
        try:
            cls = ep.load()
            _check_source_class(cls)
        except Exception as exc:
            warnings.warn(
                f"datakit source plugin {ep.name!r} ({ep.value}) failed to load and is "
                f"skipped: {type(exc).__name__}: {exc}",
                PluginWarning,
                stacklevel=3,
            )
            continue
        if cls.tag != ep.name:
            logger.debug("entry point %s registers tag %s", ep.name, cls.tag)
        _add(cls, origin=f"entry point {ep.name!r}", strict=False)


def _ensure_loaded() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    with _lock:
        if _builtins_loaded:
            return
        for module in BUILTIN_MODULES:
            try:
                importlib.import_module(module)  # modules call register_builtin()
            except ImportError as exc:
                warnings.warn(f"built-in source module {module} could not be imported: {exc}",
                              PluginWarning, stacklevel=3)
        _load_entry_points()
        _builtins_loaded = True


def register_builtin(cls):
    """Decorator used by the built-in modules (strict, like register_source)."""
    _check_source_class(cls)
    with _lock:
        _add(cls, origin="datakit", strict=True)
    return cls


def register_source(cls=None, *, replace: bool = False):
    """Register a DataSource subclass under its ``tag`` (usable as a decorator).

    A tag that is already taken by another class raises ``ValueError`` unless
    ``replace=True``.  Sources registered this way exist in this process only; the
    engine's worker processes import the class by its module name.
    """

    def decorate(klass):
        _check_source_class(klass)
        _ensure_loaded()
        with _lock:
            if replace:
                _registry.pop(klass.tag, None)
            _add(klass, origin="register_source", strict=True)
        return klass

    if cls is None:
        return decorate
    return decorate(cls)


def unregister_source(tag: str) -> type[DataSource]:
    """Remove a tag from the registry (for tests and interactive work)."""
    _ensure_loaded()
    with _lock:
        try:
            return _registry.pop(tag)
        except KeyError:
            raise KeyError(f"Unknown source tag: {tag!r}") from None


def get_source_class(tag: str) -> type[DataSource]:
    _ensure_loaded()
    try:
        return _registry[tag]
    except KeyError:
        raise KeyError(
            f"Unknown source tag: {tag!r}. Registered: {', '.join(sorted(_registry))}"
        ) from None


def registered_sources() -> dict[str, type[DataSource]]:
    """A copy of the registry: tag -> class, sorted by tag."""
    _ensure_loaded()
    return dict(sorted(_registry.items()))


def available_tags() -> list[str]:
    return list(registered_sources())


def dependency_order(tags, registry: dict[str, type[DataSource]] | None = None) -> list[str]:
    """``tags`` plus whatever they require, ordered so requirements come first.

    Ties keep the order of ``tags``.  A cycle raises ValueError naming it.
    """
    registry = registry if registry is not None else registered_sources()
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(tag, chain):
        mark = state.get(tag)
        if mark == "done":
            return
        if mark == "visiting":
            cycle = chain[chain.index(tag):] + [tag]
            raise ValueError("Cycle in source 'requires' graph: " + " -> ".join(cycle))
        state[tag] = "visiting"
        cls = registry.get(tag)
        for req in (cls.requires if cls else ()):
            if req in registry:
                visit(req, chain + [tag])
        state[tag] = "done"
        order.append(tag)

    for tag in tags:
        visit(tag, [])
    return order
