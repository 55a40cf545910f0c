"""A realistic demo experiment in the lab's exact file formats, with ground truth.

Used by the desktop app's demo, the test-suite and the benchmarks::

    from datakit.demo import generate
    exp = generate("/tmp/demo", subjects=3, sessions=2, duration=60)
    exp.cells[("STREHAB07", "ses-01", "task-widefield")].truth.dhyana_t

Every session is derived from one timing model (:mod:`datakit.demo.model`), so
alignment can be checked numerically against :class:`GroundTruth` (seconds on the
master clock; zero = ``queue_elapsed`` of the first Dhyana row of the dataqueue).

Modules: ``model`` (clocks and events), ``acquisition`` (dataqueue, treadmill, wheel),
``cameras`` (frame-metadata sidecars, DeepLabCut), ``imaging`` (mean traces, mesomap,
suite2p), ``stimulus`` (PsychoPy), ``session_files`` (configuration, notes, timestamps,
root files), ``experiment`` (write_session, generate), ``tree`` (generate_file_tree).
Importing this package does no work and never imports Qt.
"""
from __future__ import annotations

from .experiment import generate, write_session
from .layout import TAGS, TASK_TAGS
from .results import BrokenFile, DemoExperiment, MissingFile, SessionFiles
from .model import TASKS, VARIANTS, GroundTruth
from .tree import generate_file_tree

__all__ = [
    "generate", "write_session", "generate_file_tree",
    "DemoExperiment", "SessionFiles", "GroundTruth", "MissingFile", "BrokenFile",
    "TAGS", "TASK_TAGS", "TASKS", "VARIANTS",
]
