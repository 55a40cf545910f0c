"""Checking what users pass as selection filters (one rule for every place that filters)."""
from __future__ import annotations

from collections.abc import Iterable


def str_list(value, name: str) -> list[str] | None:
    """A filter argument (``include(subject=...)`` and the like) as a list of str; a str
    is a list of one, None means no constraint; anything else is a TypeError."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (bytes, dict)) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a str or a sequence of str, got {type(value).__name__}")
    items = list(value)
    bad = [v for v in items if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{name} must contain only str, got {bad[0]!r}")
    return items
