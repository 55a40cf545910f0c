"""Names: the source tags per task, label normalisation, and where each file goes."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from . import acquisition, cameras, imaging, session_files, stimulus
from .model import TASKS, VARIANTS, CellSpec

#: The 14 source tags, in the order of the reference table.
TAGS = ("dataqueue", "treadmill", "wheel", "psychopy", "meso_metadata", "pupil_metadata",
        "meso_mean", "meso_dff", "mesomap", "pupil_dlc", "suite2p", "session_config", "notes",
        "timestamps")

#: Which sources a complete session of each task has.
TASK_TAGS = {
    "widefield": ("dataqueue", "treadmill", "meso_metadata", "pupil_metadata", "meso_mean",
                  "meso_dff", "mesomap", "pupil_dlc", "session_config", "notes", "timestamps"),
    "gratings": ("dataqueue", "wheel", "psychopy", "suite2p", "session_config", "notes",
                 "timestamps"),
    "movies": ("dataqueue", "wheel", "psychopy", "session_config", "notes", "timestamps"),
}

_LABEL = re.compile(r"^[A-Za-z0-9]+$")
Writer = Callable[[object, Path], None]


def subject_label(subject) -> str:
    text = str(subject)
    text = text[4:] if text.startswith("sub-") else text
    if not _LABEL.match(text):
        raise ValueError(f"subject must be letters and digits only, got {subject!r}")
    return text


def session_label(session) -> str:
    if isinstance(session, int):
        return f"ses-{session:02d}"
    text = str(session)
    text = text[4:] if text.startswith("ses-") else text
    if not _LABEL.match(text):
        raise ValueError(f"session must be letters and digits only, got {session!r}")
    return f"ses-{text}"


def task_name(task) -> str:
    text = str(task)
    text = text[5:] if text.startswith("task-") else text
    if text not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    return text


def variant_set(variant) -> frozenset:
    if variant is None:
        return frozenset()
    names = frozenset([variant] if isinstance(variant, str) else variant)
    unknown = names - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variant(s) {sorted(unknown)}; known: {sorted(VARIANTS)}")
    return names


def kind_tuple(task: str, kinds) -> tuple:
    allowed = TASK_TAGS[task]
    if kinds is None:
        return allowed
    wanted = set([kinds] if isinstance(kinds, str) else kinds)
    unknown = wanted - set(TAGS)
    if unknown:
        raise ValueError(f"unknown file kind(s) {sorted(unknown)}; known: {list(TAGS)}")
    foreign = wanted - set(allowed)
    if foreign:
        raise ValueError(f"task {task!r} has no {sorted(foreign)} files; it has {list(allowed)}")
    return tuple(t for t in allowed if t in wanted)



def file_plan(root: Path, spec: CellSpec, tag: str) -> list[tuple[Path, Writer]]:
    """The files written for ``tag`` (the discovered one first) and their writers."""
    ses_dir = root / "data" / f"sub-{spec.subject}" / spec.session
    processed = root / "processed"
    stem = spec.stem
    if tag == "dataqueue":
        return [(ses_dir / "beh" / f"{stem}_dataqueue.csv", acquisition.write_dataqueue)]
    if tag == "treadmill":
        return [(ses_dir / "beh" / f"{stem}_treadmill.csv", acquisition.write_treadmill)]
    if tag == "wheel":
        return [(ses_dir / "beh" / f"{stem}_wheel.csv", acquisition.write_wheel)]
    if tag == "psychopy":
        return [(ses_dir / "beh" / f"{stem}_psychopy.csv", stimulus.write_psychopy)]
    if tag == "meso_metadata":
        return [(ses_dir / "func" / f"{stem}_mesoscope.ome.tiff_frame_metadata.json",
                 cameras.write_meso_sidecar)]
    if tag == "pupil_metadata":
        return [(ses_dir / "func" / f"{stem}_pupil.mp4_frame_metadata.json",
                 cameras.write_pupil_sidecar)]
    if tag == "meso_mean":
        return [(processed / "means" / f"{stem}_mesoscope.ome_meso-mean-trace.csv",
                 imaging.write_meso_mean)]
    if tag == "meso_dff":
        return [(processed / "means" / f"{stem}_mesoscope.ome_meso-collapse_first-trace.csv",
                 imaging.write_meso_dff)]
    if tag == "mesomap":
        traces = processed / "mesomap" / f"{stem}_mesoscope.ome_traces.csv"
        return [(traces, imaging.write_mesomap_traces),
                (imaging.mesomap_sibling(traces, ".mask.npy"), imaging.write_mesomap_mask),
                (imaging.mesomap_sibling(traces, ".regions.csv"), imaging.write_mesomap_regions)]
    if tag == "pupil_dlc":
        return [(processed / "dlc_output" / cameras.dlc_filename(stem, spec.variants),
                 cameras.write_dlc)]
    if tag == "suite2p":
        plane = processed / "suite2p" / f"{stem}_suite2p" / "plane0"
        return [(plane / name, imaging.suite2p_writer(name)) for name in imaging.SUITE2P_FILES]
    if tag == "session_config":
        return [(ses_dir / f"{stem}_configuration.csv", session_files.write_configuration)]
    if tag == "notes":
        return [(ses_dir / f"{stem}_notes.txt", session_files.write_notes)]
    if tag == "timestamps":
        return [(ses_dir / f"{stem}_timestamps.csv", session_files.write_timestamps)]
    raise ValueError(f"unknown file kind {tag!r}")

