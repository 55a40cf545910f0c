"""The "Run jobs on…" preference: this computer, or a Dask scheduler and its path map.

Shown through :func:`datakit_gui.dialogs.ask_run_on` (tests replace that function).
Everything typed is checked here (address syntax, ``local:N``, each ``FROM=TO`` rule)
before OK is accepted; whether the scheduler answers is found out by connecting, in the
background, once the dialog is closed.
"""
from __future__ import annotations

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QRadioButton,
    QVBoxLayout,
)

from datakit.cluster import normalise_address, parse_local
from datakit.pathmap import EXAMPLE, PathMapError, parse_rule

ADDRESS_HINT = "tcp://scheduler:8786, or local:4 for a Dask cluster on this computer"
PATH_MAP_HELP = (
    "<b>Path map</b> — where the workers find the files this computer sees, one "
    f"<tt>FROM=TO</tt> per line, e.g. <tt>{EXAMPLE.strip(chr(39))}</tt> when the rig records "
    "on a Windows share the cluster mounts at /mnt/lab. It applies to the paths sent to "
    "the workers only. Leave it empty when the workers see the same paths.")


class SchedulerDialog(QDialog):
    def __init__(self, parent=None, *, use: bool = False, address: str = "",
                 path_map=(), workers: int = 1):
        super().__init__(parent)
        self.setObjectName("schedulerDialog")
        self.setWindowTitle("Run jobs on…")
        self.local = QRadioButton(f"This computer ({workers} worker processes)")
        self.local.setObjectName("runLocally")
        self.dask = QRadioButton("Run jobs on a Dask scheduler at")
        self.dask.setObjectName("runOnDask")
        group = QButtonGroup(self)
        group.addButton(self.local)
        group.addButton(self.dask)
        self.address = QLineEdit(address)
        self.address.setObjectName("schedulerAddress")
        self.address.setPlaceholderText(ADDRESS_HINT)
        self.address.setMinimumWidth(420)
        help_text = QLabel(PATH_MAP_HELP)
        help_text.setWordWrap(True)
        self.path_map = QPlainTextEdit("\n".join(path_map))
        self.path_map.setObjectName("pathMap")
        self.path_map.setPlaceholderText(EXAMPLE.strip("'"))
        self.path_map.setFixedHeight(90)
        note = QLabel("Validate and Materialize load on the scheduler's workers; plotting a "
                      "cell and opening saved files stay on this computer.")
        note.setWordWrap(True)
        note.setEnabled(False)
        self.problem = QLabel("")
        self.problem.setObjectName("schedulerProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b00020;")
        self.problem.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.local, self.dask, self.address, help_text, self.path_map, note,
                       self.problem, buttons):
            layout.addWidget(widget)
        (self.dask if use else self.local).setChecked(True)
        self.dask.toggled.connect(self._enable)
        self._enable()

    def _enable(self) -> None:
        on = self.dask.isChecked()
        self.address.setEnabled(on)
        self.path_map.setEnabled(on)

    def values(self) -> tuple[bool, str, list[str]]:
        """(use the scheduler, its address, the path map's rules) as typed."""
        rules = [line.strip() for line in self.path_map.toPlainText().splitlines() if line.strip()]
        return self.dask.isChecked(), self.address.text().strip(), rules

    def check(self) -> str | None:
        """What is wrong with the values typed, or None."""
        use, address, rules = self.values()
        if not use:
            return None
        if not address:
            return f"Give the scheduler's address ({ADDRESS_HINT})."
        try:
            if parse_local(address) is None:
                normalise_address(address)
            for rule in rules:
                parse_rule(rule)
        except (ValueError, PathMapError) as exc:
            return str(exc).replace("--scheduler ", "")
        return None

    def accept(self) -> None:
        problem = self.check()
        self.problem.setText(problem or "")
        self.problem.setVisible(bool(problem))
        if problem is None:
            super().accept()
