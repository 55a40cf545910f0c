"""A big tree of empty files with realistic names, for the discovery benchmark."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from ._util import make_rng
from .cameras import DLC_SCORER
from .model import WALL_BASE

# (folder under the session or processed root, name suffix) per task.  Entries marked
# None are files no source claims (the raw videos and MDA sequence dumps).
_SESSION = ("", ("_configuration.csv", "_notes.txt", "_timestamps.csv"))
_LAYOUT = {
    "widefield": {
        "data": {"beh": ("_dataqueue.csv", "_treadmill.csv"),
                 "func": ("_mesoscope.ome.tiff_frame_metadata.json",
                          "_pupil.mp4_frame_metadata.json", "_mesoscope.ome.tiff",
                          "_pupil.mp4", "_mesoscope.ome.tiff_useq_MDASequence.json")},
        "processed": {"means": ("_mesoscope.ome_meso-mean-trace.csv",
                                "_mesoscope.ome_meso-collapse_first-trace.csv"),
                      "mesomap": ("_mesoscope.ome_traces.csv", "_mesoscope.ome_traces.mask.npy",
                                  "_mesoscope.ome_traces.regions.csv"),
                      "dlc_output": (f"_pupil{DLC_SCORER}.h5",)},
    },
    "gratings": {
        "data": {"beh": ("_dataqueue.csv", "_wheel.csv", "_psychopy.csv", "_psychopy.log"),
                 "func": ("_pupil.mp4",)},
        "processed": {},
        "suite2p": ("F.npy", "Fneu.npy", "iscell.npy", "spks.npy", "stat.npy", "ops.npy"),
    },
    "movies": {
        "data": {"beh": ("_dataqueue.csv", "_wheel.csv", "_psychopy.csv"),
                 "func": ("_pupil.mp4",)},
        "processed": {},
    },
}
_TASKS = tuple(_LAYOUT)
_SESSIONS_PER_SUBJECT = 12


def _cell_files(root: Path, subject: str, session: str, task: str, stem: str):
    """(directory, file names) pairs of one cell."""
    layout = _LAYOUT[task]
    ses_dir = root / "data" / f"sub-{subject}" / session
    out = [(ses_dir, [stem + s for s in _SESSION[1]])]
    for folder, suffixes in layout["data"].items():
        out.append((ses_dir / folder, [stem + s for s in suffixes]))
    for folder, suffixes in layout["processed"].items():
        out.append((root / "processed" / folder, [stem + s for s in suffixes]))
    if "suite2p" in layout:
        out.append((root / "processed" / "suite2p" / f"{stem}_suite2p" / "plane0",
                    list(layout["suite2p"])))
    return out


def generate_file_tree(root, n_files: int, *, seed: int = 0) -> int:
    """Create exactly ``n_files`` empty files named like a large experiment; return the count.

    Subjects (``BENCH0001``...) get 12 sessions of widefield, gratings and movies
    recordings with their processed outputs, plus raw videos and other files that no
    source claims.  Meant for discovery benchmarks (100,000 files in a few seconds).
    """
    root = Path(root)
    n_files = int(n_files)
    if n_files < 0:
        raise ValueError("n_files must be non-negative")
    rng = make_rng(seed, "tree")
    made_dirs: set = set()
    created = 0
    cell = 0
    flags = os.O_CREAT | os.O_WRONLY | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    while created < n_files:
        subject = f"BENCH{cell // (_SESSIONS_PER_SUBJECT * len(_TASKS)) + 1:04d}"
        within = cell % (_SESSIONS_PER_SUBJECT * len(_TASKS))
        session = f"ses-{within // len(_TASKS) + 1:02d}"
        task = _TASKS[within % len(_TASKS)]
        start = WALL_BASE + timedelta(days=int(within // len(_TASKS)) * 3 + cell % 5,
                                      seconds=int(rng.integers(0, 36_000)))
        stem = f"{start:%Y%m%d_%H%M%S}_sub-{subject}_{session}_task-{task}"
        for directory, names in _cell_files(root, subject, session, task, stem):
            if directory not in made_dirs:
                directory.mkdir(parents=True, exist_ok=True)
                made_dirs.add(directory)
            for name in names:
                if created >= n_files:
                    break
                os.close(os.open(directory / name, flags, 0o644))
                created += 1
        cell += 1
    return created
