"""The page shown before any folder is open: Open Folder, the demo and recent folders."""
from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..icons import app_icon


class WelcomePage(QWidget):
    open_requested = Signal()
    demo_requested = Signal()
    recent_requested = Signal(list)

    def __init__(self, prefs, parent=None):
        super().__init__(parent)
        self.setObjectName("welcomePage")
        self.prefs = prefs
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(64, 64))
        title = QLabel("<h2>datakit</h2>See which recordings of an experiment are there, missing or "
                       "broken; select, load and plot them.")
        title.setWordWrap(True)
        head = QHBoxLayout()
        head.addWidget(logo)
        head.addWidget(title, 1)

        self.open_button = QPushButton("Open Folder…  (Ctrl+O)")
        self.open_button.setObjectName("welcomeOpen")
        self.demo_button = QPushButton("Open the demo experiment")
        self.demo_button.setObjectName("welcomeDemo")
        self.demo_button.setToolTip("Writes a small realistic experiment into your cache folder "
                                    "(once) and opens it")
        self.open_button.clicked.connect(self.open_requested)
        self.demo_button.clicked.connect(self.demo_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.demo_button)
        buttons.addStretch(1)

        self.recent_model = QStringListModel(self)
        self.recent = QListView()
        self.recent.setObjectName("recentFolders")
        self.recent.setModel(self.recent_model)
        self.recent.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.recent.activated.connect(self._activated)
        hint = QLabel("An experiment folder holds data/ (and processed/) with sub-*/ses-* folders. "
                      "You can also drop a folder onto this window.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #555")

        column = QVBoxLayout()
        column.addLayout(head)
        column.addSpacing(12)
        column.addLayout(buttons)
        column.addSpacing(12)
        column.addWidget(QLabel("<b>Recent folders</b> (double-click or Enter to open)"))
        self.no_recent = QLabel("No recent folders yet.")
        self.no_recent.setStyleSheet("color: #777")
        column.addWidget(self.no_recent)
        column.addWidget(self.recent, 1)
        column.addWidget(hint)
        column.addStretch(0)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(column, 6)
        outer.addStretch(1)
        self.refresh()

    def refresh(self) -> None:
        self._entries = self.prefs.recent_folders()
        self.recent_model.setStringList(["  +  ".join(e) for e in self._entries])
        if self._entries:
            self.recent.setCurrentIndex(self.recent_model.index(0))
        self.recent.setVisible(bool(self._entries))
        self.no_recent.setVisible(not self._entries)

    def _activated(self, index) -> None:
        if 0 <= index.row() < len(self._entries):
            self.recent_requested.emit(self._entries[index.row()])

    def keyPressEvent(self, event):
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.recent.currentIndex().isValid():
            self._activated(self.recent.currentIndex())
            return
        super().keyPressEvent(event)
