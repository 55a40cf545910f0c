"""Lab-specific names and constants, in one place.

Device names differ between rigs and acquisition versions, so sources never spell
them out: they ask a :class:`Settings` object (carried by every ``LoadContext``) which
dataqueue ``device_id`` belongs to which role.  Matching is case-insensitive and by
substring, so ``encoder`` also matches ``encoder_COM3``.

Change them for a whole session with :func:`configure` (``datakit.settings`` and
``from datakit import settings`` give the current value) or pass ``settings=`` to
:class:`~datakit.Dataset`.  Settings are plain frozen dataclasses, so they pickle into
worker processes with the rest of a load.

The earlier implementation's read-only namespaces are there too (reference §3.17):
``settings.dataset.index_names``, ``settings.timeline.window_device_patterns``,
``settings.sources.source_tag`` and the rest.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np


@dataclass(frozen=True)
class Devices:
    """Which dataqueue ``device_id`` plays which role (substring patterns)."""

    master_camera: tuple[str, ...] = ("dhyana", "mesoscope")
    pupil_camera: tuple[str, ...] = ("thorcam", "pupil")
    encoder: tuple[str, ...] = ("encoder", "treadmill")
    nidaq: tuple[str, ...] = ("nidaq",)

    def mask(self, role: str, device_ids) -> np.ndarray:
        """Boolean mask of ``device_ids`` (array-like of str) that play ``role``."""
        patterns = getattr(self, role)
        ids = np.asarray(device_ids, dtype=object)
        if ids.size == 0:
            return np.zeros(0, dtype=bool)
        lowered = np.char.lower(ids.astype(str))
        out = np.zeros(ids.shape, dtype=bool)
        for pattern in patterns:
            out |= np.char.find(lowered, pattern.lower()) >= 0
        return out

    def matches(self, role: str, device_id: str) -> bool:
        text = str(device_id).lower()
        return any(p.lower() in text for p in getattr(self, role))

    def first_match(self, role: str, device_ids: Iterable[str]) -> str | None:
        for device_id in device_ids:
            if self.matches(role, device_id):
                return str(device_id)
        return None


@dataclass(frozen=True)
class DatasetNames:
    """``settings.dataset`` of the earlier implementation (names of the frame's parts)."""

    index_names: tuple[str, ...] = ("Subject", "Session", "Task")
    column_names: tuple[str, ...] = ("Source", "Feature")
    scope_key: str = "scope"
    session_scope: str = "session"
    experiment_scope: str = "experiment"


@dataclass(frozen=True)
class TimelineNames:
    """``settings.timeline`` of the earlier implementation."""

    dataqueue_glob: str = "*_dataqueue.csv"
    queue_column: str = "queue_elapsed"
    window_device_patterns: tuple[str, ...] = ("dhyana", "mesoscope")


@dataclass(frozen=True)
class SourceMetaNames:
    """``settings.sources`` of the earlier implementation: standard meta key names."""

    camera_tag: str = "camera_tag"
    is_timeseries: str = "is_timeseries"
    source_tag: str = "source_tag"
    is_interval: str = "is_interval"


@dataclass(frozen=True)
class Settings:
    """Every tunable constant the built-in sources use."""

    devices: Devices = field(default_factory=Devices)
    #: Rate assumed for the master (mesoscope) camera when nothing better is known.
    master_camera_rate_hz: float = 50.0
    #: Rate assumed for the pupil camera when nothing better is known.
    pupil_camera_rate_hz: float = 20.0
    #: DeepLabCut: landmarks below this likelihood are ignored.
    dlc_likelihood_threshold: float = 0.7
    #: DeepLabCut: pixels per millimetre of the pupil camera.
    dlc_pixels_per_mm: float = 53.6
    #: suite2p: nidaq edges counted per imaging frame.
    suite2p_pulses_per_frame: int = 2
    #: suite2p: neuropil coefficient used when ops.npy does not record one.
    suite2p_neuropil_coefficient: float = 0.7
    #: suite2p: per-cell percentile of the neuropil-corrected trace used as the dF/F
    #: baseline (the earlier implementation's 3rd percentile; recorded in meta).
    suite2p_baseline_percentile: float = 3.0
    #: Allow sources and loaders to unpickle files (DeepLabCut pickles, suite2p
    #: stat/ops, pickled datasets).  ``None`` means: follow the environment
    #: variable ``DATAKIT_ALLOW_PICKLE`` (default allowed).
    allow_pickle: bool | None = None
    #: Where Dask workers find the files: ``(FROM, TO)`` prefix pairs applied to the
    #: paths of each cell task sent to a Dask worker (never to local runs).  Accepts
    #: ``"Z:/lab=/mnt/lab"``, a list of such strings, a dict or pairs; see
    #: :mod:`datakit.pathmap`.  It does not change what a file loads to, so it is not
    #: part of a validation's fingerprint.
    path_map: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        from .pathmap import parse

        object.__setattr__(self, "path_map", parse(self.path_map))

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)

    # the earlier implementation's namespaces (read-only views) -----------------------

    @property
    def dataset(self) -> DatasetNames:
        return DatasetNames()

    @property
    def timeline(self) -> TimelineNames:
        return TimelineNames(window_device_patterns=tuple(self.devices.master_camera))

    @property
    def sources(self) -> SourceMetaNames:
        return SourceMetaNames()


_current = Settings()


def get_settings() -> Settings:
    """The settings used when a Dataset is built without ``settings=``."""
    return _current


def configure(settings: Settings | None = None, **changes) -> Settings:
    """Replace the default settings (or some fields of them) and return the new value.

    >>> datakit.configure(devices=Devices(master_camera=("hamamatsu",)))
    """
    global _current
    base = settings if settings is not None else _current
    if changes:
        base = base.replace(**changes)
    if not isinstance(base, Settings):
        raise TypeError(f"expected datakit.Settings, got {type(base).__name__}")
    _current = base
    return _current
