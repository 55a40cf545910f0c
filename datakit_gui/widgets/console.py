"""The console dock: a qtconsole IPython widget on an in-process kernel, created lazily.

The kernel starts the first time the dock is shown (importing ipykernel costs about a
second, and most sessions never open the console).  ``datakit``, ``ds`` (the filtered
Dataset), ``df`` (the last materialized frame, or a saved file loaded whole), ``saved``
(the saved .h5 opened lazily: ``saved.cell(key)``, ``saved.load(...)``), ``state`` and
``window`` are pushed in, and ``ds``/``df``/``saved`` follow AppState afterwards.  ``shutdown()`` stops the kernel.
"""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDockWidget, QLabel

BANNER = ("datakit console: ds = the filtered Dataset, df = the last materialized frame, "
          "saved = the saved .h5 opened (saved.cell(key), saved.load(subject=...)), "
          "state = the app state, window = the main window.\n"
          "Try: df.shape, ds.inventory, datakit.inspect_sources(ds)\n")


class ConsoleDock(QDockWidget):
    kernel_ready = Signal()

    def __init__(self, state, window, parent=None):
        super().__init__("Console", parent)
        self.setObjectName("consoleDock")
        self.state = state
        self.window_ref = window
        self.kernel_manager = None
        self.kernel_client = None
        self.console = None
        placeholder = QLabel("The IPython console starts when this panel is first shown.")
        placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWidget(placeholder)
        self.visibilityChanged.connect(self._visibility_changed)
        state.filters_changed.connect(self._push_dataset)
        state.dataset_changed.connect(self._push_dataset)
        state.frame_changed.connect(self._push_frame)
        state.saved_changed.connect(self._push_frame)

    @property
    def started(self) -> bool:
        return self.kernel_manager is not None

    def _visibility_changed(self, visible: bool) -> None:
        if visible and not self.started:
            self.start()

    def start(self) -> None:
        """Create the kernel and the console widget (once)."""
        if self.started:
            return
        os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        from qtconsole.inprocess import QtInProcessKernelManager
        from qtconsole.rich_jupyter_widget import RichJupyterWidget

        manager = QtInProcessKernelManager()
        manager.start_kernel(show_banner=False)
        manager.kernel.gui = "qt"
        client = manager.client()
        client.start_channels()
        console = RichJupyterWidget()
        console.setObjectName("consoleWidget")
        console.banner = BANNER
        console.kernel_manager = manager
        console.kernel_client = client
        self.kernel_manager, self.kernel_client, self.console = manager, client, console
        self.setWidget(console)
        import datakit

        self.push({"datakit": datakit, "state": self.state, "window": self.window_ref})
        self._push_dataset()
        self._push_frame()
        self.kernel_ready.emit()

    def push(self, variables: dict) -> None:
        if self.started:
            self.kernel_manager.kernel.shell.push(variables)

    @property
    def namespace(self) -> dict:
        return self.kernel_manager.kernel.shell.user_ns if self.started else {}

    def execute(self, code: str) -> None:
        """Run ``code`` as if typed (shown in the console)."""
        if not self.started:
            self.start()
        self.console.execute(code)

    def _push_dataset(self) -> None:
        self.push({"ds": self.state.filtered})

    def _push_frame(self) -> None:
        self.push({"df": self.state.frame, "saved": self.state.saved})

    def shutdown(self) -> None:
        if not self.started:
            return
        self.kernel_client.stop_channels()
        self.kernel_manager.shutdown_kernel()
        self.kernel_manager = self.kernel_client = None
