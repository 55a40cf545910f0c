"""How a cell's drawables are laid out in lanes, and what the time axis may claim.

Pure Python.  One lane per signal group: a source's curve signals that share a unit
share a lane (the unit on its y axis); an ROI image, a frame-health track, a source's
spans and its markers each get their own lane; every extra (a feature that is not a
signal) gets its own lane, drawn only once ticked.  Top to bottom: notes, intervals,
the measured signals (in the frame's source order, each source's extras after its
signals), frame health.

The time axis says "time on the master clock" only when every drawn stream is on it;
otherwise it names the clocks drawn, and each lane off the master clock says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .streams import DROP_FACTOR, CellStreams, Curve, Drawable, FrameHealth, Markers, RoiImage, Spans

MASTER = "master"
MASTER_LABEL = "time on the master clock (s)"

#: Human names of the ``time_basis`` values sources write (datakit.timeline and the sources).
CLOCK_NAMES = {
    "master": "master clock",
    "dataqueue_first_row": "dataqueue clock (no master camera)",
    "session_timestamps": "session timestamps",
    "camera_sidecar": "camera sidecar",
    "assumed_rate": "assumed frame rate",
    "encoder_clock": "encoder clock",
    "notes_relative": "notes' own clock",
    "wheel_clock": "wheel clock",
    "psychopy_expstart": "PsychoPy expStart",
    "suite2p_fs": "suite2p frame rate",
}

_RANK = {"markers": 0, "spans": 1, "curve": 2, "rois": 2, "frames": 3}


def clock_name(basis: str | None) -> str:
    if basis is None:
        return "an unstated clock"
    return CLOCK_NAMES.get(basis, basis.replace("_", " "))


def time_axis_label(bases) -> str:
    """The x-axis text for the drawn streams' time bases."""
    bases = set(bases)
    if not bases or bases == {MASTER}:
        return MASTER_LABEL
    names = sorted((clock_name(b) for b in bases), key=lambda n: (n != CLOCK_NAMES[MASTER], n))
    return "time (s) on several clocks: " + ", ".join(names) if len(names) > 1 \
        else f"time (s) on the {names[0]}"


@dataclass
class Lane:
    key: tuple                  # (source, group)
    kind: str                   # curve, rois, frames, spans, markers
    source: str
    basis: str | None
    items: list[Drawable] = field(default_factory=list)

    @property
    def signal(self) -> bool:
        return any(item.signal for item in self.items)

    @property
    def off_clock(self) -> bool:
        return self.basis != MASTER

    @property
    def y_label(self) -> str:
        items = self.items
        first = items[0]
        if self.kind in ("spans", "markers"):
            return ""
        if self.kind == "frames":
            return first.unit or first.label
        if len(items) == 1:
            return first.axis_label
        labels = " / ".join(dict.fromkeys(item.label for item in items))
        return f"{labels} ({first.unit})" if first.unit else labels

    def title(self) -> str:
        """The lane's title: its source, what it shows, and its clock when not the master."""
        first = self.items[0]
        parts = [self.source]
        if self.kind == "rois":
            lo, hi = first.levels
            parts.append(f"{first.label}, {len(first.rois)} ROIs, colour {lo:.3g} to {hi:.3g}"
                         + (f" {first.unit}" if first.unit else ""))
        elif self.kind == "frames":
            parts.append(_health_text(first))
        elif self.kind == "spans":
            parts.append(first.label)
        elif self.kind == "markers":
            n = len(first.t)
            what = f"{n}" if first.label == self.source else f"{first.label}: {n}"
            parts[-1] += f" ({what}, hover to read)"
        text = " · ".join(parts)
        if self.off_clock:
            text += f" — {clock_name(self.basis)}, not the master clock"
        return text


def _health_text(item: FrameHealth) -> str:
    n = len(item.t)
    rate = f", {item.rate_hz:.1f} Hz" if item.median_ms > 0 else ""
    if item.n_dropped:
        gaps = len(item.gap_starts)
        dropped = f"{item.n_dropped} dropped frame{'s' * (item.n_dropped != 1)}" \
                  f" ({gaps} gap{'s' * (gaps != 1)} > {DROP_FACTOR:g}× median interval)"
    else:
        dropped = "no dropped frames"
    return f"{item.label}: {n:,} frames{rate}, {dropped}"


def _group(item: Drawable) -> str:
    if isinstance(item, Curve):
        return f"unit:{item.unit}" if item.signal else f"feature:{item.feature}"
    if isinstance(item, (RoiImage, FrameHealth, Spans, Markers)):
        return f"{item.kind}:{item.feature}"
    raise TypeError(f"unknown drawable {item!r}")


def plan(streams: CellStreams) -> list[Lane]:
    """Every lane the cell can show (signal lanes and extras' lanes), top to bottom."""
    sources = list(dict.fromkeys(item.source for item in streams.items))
    lanes: dict[tuple, Lane] = {}
    for item in streams.items:
        key = (item.source, _group(item))
        lane = lanes.get(key)
        if lane is None:
            lane = lanes[key] = Lane(key, item.kind, item.source, item.basis)
        lane.items.append(item)
    order = {key: i for i, key in enumerate(lanes)}
    return sorted(lanes.values(), key=lambda lane: (
        _RANK[lane.kind], sources.index(lane.source), not lane.signal, order[lane.key]))
