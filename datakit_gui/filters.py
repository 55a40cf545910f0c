"""The filter selection of the GUI and how it maps onto Dataset.include / Dataset.exclude.

Pure Python (no Qt): the filter panel edits a :class:`FilterSpec`, AppState applies it,
and the panel shows :meth:`FilterSpec.expression`, the same calls as Python code.

Per axis (subject, session, task, source) the user checks values and picks a mode:

* ``include``: keep only the checked values (``values=None``: every value, no constraint);
* ``exclude``: drop the checked values (``values=()``: nothing dropped).

All include constraints go into one ``include(...)`` call (AND across axes, as the
library defines).  ``incomplete`` keeps only the cells where something expected is
missing (``Dataset.incomplete()``), after the axis filters.  Each exclude axis is its own ``exclude(...)`` call, so excluding some
subjects and some sessions drops rows matching *either*, which is what unticking boxes
in two lists means; a single call with two row axes would drop only rows matching both.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

AXES = ("subject", "session", "task", "source")
INCLUDE = "include"
EXCLUDE = "exclude"
MODES = (INCLUDE, EXCLUDE)


@dataclass(frozen=True)
class AxisFilter:
    """One axis: a mode and the checked values (see module doc for ``None``)."""

    mode: str = INCLUDE
    values: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.values is not None:
            object.__setattr__(self, "values", tuple(dict.fromkeys(str(v) for v in self.values)))

    @property
    def active(self) -> bool:
        """Does this axis constrain anything?"""
        if self.mode == INCLUDE:
            return self.values is not None
        return bool(self.values)

    def kept(self, universe) -> list[str]:
        """The values of ``universe`` this axis lets through (in universe order)."""
        if not self.active:
            return list(universe)
        chosen = set(self.values)
        if self.mode == INCLUDE:
            return [v for v in universe if v in chosen]
        return [v for v in universe if v not in chosen]

    def checked(self, universe) -> list[str]:
        """The values shown ticked in a list of ``universe``."""
        if self.mode == INCLUDE:
            return list(universe) if self.values is None else [v for v in universe if v in set(self.values)]
        return [v for v in universe if v in set(self.values or ())]


def axis_from_checked(mode: str, checked, universe) -> AxisFilter:
    """The AxisFilter for ``checked`` ticks among ``universe`` (all ticked in include = None)."""
    checked = [v for v in universe if v in set(checked)]
    if mode == INCLUDE:
        return AxisFilter(INCLUDE, None if len(checked) == len(universe) else tuple(checked))
    return AxisFilter(EXCLUDE, tuple(checked) or None)


@dataclass(frozen=True)
class FilterSpec:
    """The four axes; immutable, so AppState can compare old and new."""

    subject: AxisFilter = field(default_factory=AxisFilter)
    session: AxisFilter = field(default_factory=AxisFilter)
    task: AxisFilter = field(default_factory=AxisFilter)
    source: AxisFilter = field(default_factory=AxisFilter)
    incomplete: bool = False       # only cells with something expected missing

    def axis(self, name: str) -> AxisFilter:
        if name not in AXES:
            raise KeyError(f"unknown filter axis {name!r}; axes: {AXES}")
        return getattr(self, name)

    def with_axis(self, name: str, axis: AxisFilter) -> FilterSpec:
        self.axis(name)
        return replace(self, **{name: axis})

    def with_mode(self, name: str, mode: str, universe) -> FilterSpec:
        """Switch an axis's mode keeping the same values let through (ticks invert)."""
        current = self.axis(name)
        if mode == current.mode:
            return self
        kept = current.kept(universe)
        if mode == INCLUDE:
            return self.with_axis(name, axis_from_checked(INCLUDE, kept, universe))
        dropped = [v for v in universe if v not in set(kept)]
        return self.with_axis(name, axis_from_checked(EXCLUDE, dropped, universe))

    @property
    def active(self) -> bool:
        return self.incomplete or any(self.axis(a).active for a in AXES)

    def with_incomplete(self, value: bool) -> FilterSpec:
        return replace(self, incomplete=bool(value))

    def pruned(self, universes: dict) -> FilterSpec:
        """Forget values no longer present (after a rescan); axes without a universe reset."""
        spec = self
        for name in AXES:
            axis = self.axis(name)
            universe = universes.get(name)
            if not universe:
                spec = spec.with_axis(name, AxisFilter(axis.mode))
            elif axis.values is not None:
                keep = [v for v in axis.values if v in set(universe)]
                if axis.mode == INCLUDE:
                    spec = spec.with_axis(name, axis_from_checked(INCLUDE, keep, universe))
                else:
                    spec = spec.with_axis(name, AxisFilter(EXCLUDE, tuple(keep) or None))
        return spec

    def calls(self) -> list[tuple[str, dict]]:
        """The Dataset method calls this selection stands for, in order."""
        include = {name: list(self.axis(name).values) for name in AXES
                   if self.axis(name).mode == INCLUDE and self.axis(name).active}
        out: list[tuple[str, dict]] = []
        if include:
            out.append((INCLUDE, include))
        for name in AXES:
            axis = self.axis(name)
            if axis.mode == EXCLUDE and axis.active:
                out.append((EXCLUDE, {name: list(axis.values)}))
        if self.incomplete:
            out.append(("incomplete", {}))
        return out

    def apply(self, dataset):
        """The filtered Dataset (the original is unchanged)."""
        for method, kwargs in self.calls():
            dataset = getattr(dataset, method)(**kwargs)
        return dataset

    def expression(self, var: str = "ds") -> str:
        """The Python code equivalent to :meth:`apply` on ``var``."""
        text = var
        for method, kwargs in self.calls():
            args = ", ".join(f"{k}={_literal(v)}" for k, v in kwargs.items())
            text += f".{method}({args})"
        return text


def _literal(values: list[str]) -> str:
    if len(values) == 1:
        return repr(values[0])
    return "[" + ", ".join(repr(v) for v in values) + "]"
