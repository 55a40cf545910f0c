"""What the app remembers between runs (QSettings): recent folders, the window layout and
where jobs run (this computer, or a Dask scheduler with its path map)."""
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

    # where jobs run -----------------------------------------------------------------

    def scheduler(self) -> tuple[bool, str]:
        """(run jobs on a Dask scheduler?, its address or local:N); the address is kept
        while the option is off."""
        use = self.settings.value("jobs/use_scheduler", False, type=bool)
        return bool(use), str(self.settings.value("jobs/scheduler", "") or "")

    def set_scheduler(self, use: bool, address: str) -> None:
        self.settings.setValue("jobs/use_scheduler", bool(use))
        self.settings.setValue("jobs/scheduler", str(address or "").strip())

    def path_map(self) -> list[str]:
        """The path map's FROM=TO rules (applied to the paths sent to Dask workers)."""
        value = self.settings.value("jobs/path_map", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value or [] if str(v).strip()]

    def set_path_map(self, rules) -> None:
        self.settings.setValue("jobs/path_map", [str(r) for r in rules])

    def last_folder(self) -> str:
        recent = self.recent_folders()
        return recent[0][0] if recent else ""
