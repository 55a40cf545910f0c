"""What of a source is worth drawing: ``Signal`` declarations and the bookkeeping rule.

A source says which of its features are the measurements a scientist looks at::

    class TreadmillSource(DataSource):
        signals = (Signal("speed_mm", "speed", "mm/s"), Signal("distance_mm", "distance", "mm"))

``feature`` is a materialized feature name, with these conventions:

* a numeric 1-D feature is a curve; a 2-D one (ROIs x samples, like suite2p's ``dff``)
  is one signal for all its ROIs;
* ``"*"`` stands for all the source's other numeric, non-bookkeeping features taken
  together as ROIs (mesomap's one column per brain region);
* ``"time_elapsed_s"`` (the stream's own times) asks for the sampling itself: a
  frame-health track (intervals between frames, dropped frames marked);
* a text feature of a time series (the notes) is a set of time markers;
* ``"start_s"`` of an interval source is its spans.

A source that leaves ``signals`` as ``None`` (plugins written before it existed) falls
back to :func:`is_bookkeeping`: every numeric feature is a signal except monotonic
clocks and counters.  ``signals = ()`` declares that nothing is drawn by default.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

#: ``Signal.feature`` meaning "every other numeric, non-bookkeeping feature, as ROIs".
ALL_ROIS = "*"

# Words (after splitting camelCase and separators, lower case) that make a feature
# name a clock or a counter.
_CLOCK_WORDS = frozenset({"time", "times", "timestamp", "timestamps", "ts", "elapsed", "clock",
                          "perf", "epoch", "datetime", "date"})
_COUNTER_WORDS = frozenset({"frame", "frames", "index", "idx", "number", "counter", "id", "seq",
                            "sequence", "slice"})
_LOOP_STATE = re.compile(r"^this[a-z]*$")      # PsychoPy loop state: thisN, thisRepN, thisIndex
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[^0-9A-Za-z]+")


@dataclass(frozen=True)
class Signal:
    """One thing worth drawing: ``feature`` with a short human ``label`` and its ``unit``."""

    feature: str
    label: str = ""
    unit: str = ""

    def __post_init__(self):
        for name in ("feature", "label", "unit"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Signal.{name} must be a string, got {getattr(self, name)!r}")
        if not self.feature:
            raise TypeError("Signal.feature must not be empty")
        if not self.label:
            object.__setattr__(self, "label", self.feature)

    @property
    def axis_label(self) -> str:
        """``label (unit)``, or the label alone when it has no unit or already ends with it."""
        if not self.unit or self.label.endswith(self.unit):
            return self.label
        return f"{self.label} ({self.unit})"


def words(name: str) -> list[str]:
    """``"ImageNumber"`` -> ``["image", "number"]``; ``"queue_elapsed"`` -> ``["queue", "elapsed"]``."""
    spaced = _CAMEL.sub(" ", str(name))
    return [w.lower() for w in _SEPARATORS.split(spaced) if w]


def is_bookkeeping_name(name: str) -> bool:
    """True for the names of clocks and counters (case-insensitive, any spelling).

    Clocks: a word ``time``/``timestamp``/``ts``/``elapsed``/``clock``/... (``time_*``,
    ``*_elapsed``, ``elapsed_time_ms``, ``packet_ts``, ``TimeReceivedByCore``) or the bare
    name ``t``.  Counters: a word ``frame``/``index``/``idx``/``number``/``counter``/``id``/
    ``seq``/``slice`` (``image_number``, ``ImageNumber``,
    ``frame_number``, ``cell_index``, ``device_id``) or PsychoPy's loop state
    (``trials.thisN``, ``thisRepN``).
    """
    parts = words(name)
    if not parts:
        return False
    if parts == ["t"]:
        return True
    return any(w in _CLOCK_WORDS or w in _COUNTER_WORDS or _LOOP_STATE.match(w) for w in parts)


def is_monotonic_counter(values) -> bool:
    """True when every sample is larger than the one before (a clock or a counter: a
    measured quantity practically never rises at every single sample)."""
    if not isinstance(values, np.ndarray) or values.ndim != 1 or values.size < 3 \
            or values.dtype.kind not in "iuf":
        return False
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.diff(values) > 0))


def is_bookkeeping(name: str, values=None) -> bool:
    """The fallback rule for sources that declare no ``signals``: a feature is left out
    when its name is a clock's or a counter's (:func:`is_bookkeeping_name`) or when its
    values strictly increase at every sample (:func:`is_monotonic_counter`)."""
    return is_bookkeeping_name(name) or (values is not None and is_monotonic_counter(values))


def declared_signals(source_cls) -> tuple[Signal, ...] | None:
    """The class's ``signals`` as a tuple of :class:`Signal`, or ``None`` if it declares none.

    Plain strings and ``(feature, label, unit)`` tuples are accepted as shorthands.
    """
    raw = getattr(source_cls, "signals", None)
    if raw is None:
        return None
    if isinstance(raw, (str, Signal)):
        raw = (raw,)
    out = []
    for item in raw:
        if isinstance(item, Signal):
            out.append(item)
        elif isinstance(item, str):
            out.append(Signal(item))
        elif isinstance(item, (tuple, list)) and 1 <= len(item) <= 3:
            out.append(Signal(*item))
        else:
            raise TypeError(f"{getattr(source_cls, '__name__', source_cls)}.signals: expected "
                            f"datakit.Signal(feature, label, unit), got {item!r}")
    return tuple(out)
