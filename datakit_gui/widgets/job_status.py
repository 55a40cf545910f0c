"""The status-bar part that shows the running job: message, progress bar, Cancel."""
from __future__ import annotations

import time

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from ..jobs import CANCELLED, ERROR, MAIN


class JobStatus(QWidget):
    def __init__(self, jobs, cancel_action, parent=None):
        super().__init__(parent)
        self.jobs = jobs
        self.message = QLabel("")
        self.message.setObjectName("jobMessage")
        self.message.setMinimumWidth(260)
        self.bar = QProgressBar()
        self.bar.setObjectName("jobProgress")
        self.bar.setFixedWidth(220)
        self.bar.setTextVisible(True)
        self.bar.hide()
        self.cancel = QToolButton()
        self.cancel.setDefaultAction(cancel_action)
        self.cancel.hide()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.message)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel)
        jobs.started.connect(self._started)
        jobs.progressed.connect(self._progressed)
        jobs.finished.connect(self._finished)

    def _started(self, job) -> None:
        if job.lane != MAIN:
            return
        self.message.setText(f"{job.name}…")
        self.bar.setRange(0, 0)     # busy until the first progress report
        self.bar.show()
        self.cancel.show()

    def _progressed(self, job, done: int, total: int, message: str) -> None:
        if job.lane != MAIN:
            return
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
            self.bar.setFormat("%v / %m  (%p%)")
        else:
            self.bar.setRange(0, 0)
        text = f"{job.name}: {message}" if message else f"{job.name}…"
        self.message.setText(text if len(text) < 90 else text[:87] + "…")

    def _finished(self, job, outcome: str) -> None:
        if job.lane != MAIN:
            return
        self.bar.hide()
        self.cancel.hide()
        seconds = time.monotonic() - job.started_at
        if outcome == CANCELLED:
            self.message.setText(f"{job.name}: cancelled")
        elif outcome == ERROR:
            self.message.setText(f"{job.name}: failed")
        else:
            self.message.setText(f"{job.name}: done in {seconds:.1f} s")
