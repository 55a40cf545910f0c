"""What the app remembers between runs (QSettings): recent folders and the window layout."""
from __future__ import annotations

from PySide6.QtCore import QSettings

MAX_RECENT = 10


class Preferences:
    """A thin typed layer over QSettings; pass your own QSettings (tests use an ini file)."""

    def __init__(self, settings: QSettings | None = None):
        self.settings = settings if settings is not None else QSettings("datakit", "datakit-gui")

    def recent_folders(self) -> list[list[str]]:
        """Recently opened root sets, newest first (each a list of folder paths)."""
        value = self.settings.value("recent/roots", [])
        if isinstance(value, str):
            value = [value]
        out = []
        for entry in value or []:
            roots = [r for r in str(entry).split("\n") if r]
            if roots:
                out.append(roots)
        return out

    def add_recent(self, roots) -> None:
        entry = "\n".join(str(r) for r in roots)
        entries = ["\n".join(r) for r in self.recent_folders()]
        entries = [entry] + [e for e in entries if e != entry]
        self.settings.setValue("recent/roots", entries[:MAX_RECENT])

    def remove_recent(self, roots) -> None:
        entry = "\n".join(str(r) for r in roots)
        self.settings.setValue("recent/roots", ["\n".join(r) for r in self.recent_folders()
                                                if "\n".join(r) != entry])

    def clear_recent(self) -> None:
        self.settings.setValue("recent/roots", [])

    def save_window(self, window) -> None:
        self.settings.setValue("window/geometry", window.saveGeometry())
        self.settings.setValue("window/state", window.saveState())
        self.settings.sync()

    def restore_window(self, window) -> bool:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        restored = False
        if geometry is not None:
            restored = bool(window.restoreGeometry(geometry))
        if state is not None:
            window.restoreState(state)
        return restored

    def last_folder(self) -> str:
        recent = self.recent_folders()
        return recent[0][0] if recent else ""
