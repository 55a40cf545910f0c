"""What a generation wrote: per-session paths and ground truth, missing and broken files."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .layout import TAGS, session_label, subject_label, task_name
from .model import GroundTruth


@dataclass(eq=False)
class SessionFiles:
    """The files of one (subject, session, task) cell and its ground truth.

    ``paths[tag]`` is the file discovery should match for that source; ``companions``
    holds the other files a source reads (mesomap mask/regions, suite2p plane files).
    """

    subject: str                 # bare, as in the inventory index ("STREHAB07")
    session: str                 # "ses-01"
    task: str                    # "task-widefield"
    stamp: str                   # "20250706_161035"
    session_dir: Path
    paths: dict
    companions: dict
    variants: frozenset
    truth: GroundTruth

    @property
    def key(self) -> tuple:
        return (self.subject, self.session, self.task)

    def __repr__(self) -> str:
        return (f"SessionFiles({self.subject}/{self.session}/{self.task}, stamp={self.stamp}, "
                f"sources={sorted(self.paths)}, variants={sorted(self.variants)})")

    def files(self) -> list[Path]:
        out = list(self.paths.values())
        for extra in self.companions.values():
            out.extend(extra)
        return out


@dataclass(frozen=True)
class MissingFile:
    """A source a complete session of this task would have, left out on purpose.

    ``covered_by`` names another file of the cell that still provides the source (the
    treadmill's encoder packets in the dataqueue), so datakit does not call it missing.
    """

    subject: str
    session: str
    task: str
    tag: str
    reason: str
    covered_by: str | None = None


@dataclass(frozen=True)
class BrokenFile:
    """The file made unreadable on purpose, and how."""

    subject: str
    session: str
    task: str
    tag: str
    path: Path
    what: str

    def __fspath__(self) -> str:          # usable wherever a path is expected
        return str(self.path)


@dataclass(eq=False)
class DemoExperiment:
    root: Path
    subjects: tuple
    sessions: tuple
    tasks: tuple                 # "task-..." labels
    duration: float
    seed: int
    cells: dict                  # (subject, session, task) -> SessionFiles
    missing: list
    broken: list
    root_files: list = field(default_factory=list)
    protocol: Path | None = None      # datakit.toml
    manifest: Path | None = None      # manifest.json

    def __repr__(self) -> str:
        return (f"DemoExperiment(root={str(self.root)!r}, cells={len(self.cells)}, "
                f"missing={len(self.missing)}, broken={len(self.broken)})")

    def missing_pairs(self) -> set:
        """(subject, session, task, source) pairs datakit should report missing: every
        file left out or deleted, except those another file still provides."""
        return {(m.subject, m.session, m.task, m.tag) for m in self.missing if m.covered_by is None}

    @property
    def missing_cells(self) -> list[tuple]:
        """Cells whose whole task was not recorded."""
        expected = {(m.subject, m.session, m.task) for m in self.missing}
        return sorted(k for k in expected if k not in self.cells)

    def cell(self, subject: str, session, task: str) -> SessionFiles:
        key = (subject_label(subject), session_label(session), "task-" + task_name(task))
        return self.cells[key]

    def paths(self, tag: str) -> dict:
        """(subject, session, task) -> path, for every cell that has ``tag``."""
        return {k: c.paths[tag] for k, c in self.cells.items() if tag in c.paths}

    def files(self) -> list[Path]:
        out = list(self.root_files) + [p for p in (self.protocol, self.manifest) if p is not None]
        for c in self.cells.values():
            out.extend(c.files())
        return out

    def expected_inventory(self):
        """The files written per (cell, source): rows (Subject, Session, Task), str paths.

        Presence matches what discovery finds; the path can differ where a source
        prefers another file of the cell (e.g. treadmill read from the dataqueue).
        """
        import pandas as pd

        keys = sorted(self.cells)
        tags = [t for t in TAGS if any(t in self.cells[k].paths for k in keys)]
        data = {t: [str(self.cells[k].paths[t]) if t in self.cells[k].paths else None
                    for k in keys] for t in tags}
        index = pd.MultiIndex.from_tuples(keys, names=["Subject", "Session", "Task"])
        return pd.DataFrame(data, index=index, dtype=object)

