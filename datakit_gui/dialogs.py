"""Every modal dialog of the app, one small function each.

Tests replace these functions (``monkeypatch.setattr(dialogs, "show_error", ...)``) so a
test never blocks on a dialog; callers always go through the module attribute
(``dialogs.show_error(...)``), never a ``from dialogs import`` copy.
"""
from __future__ import annotations

import time

from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from datakit.formats import PICKLE_RISK

PICKLE_WARNING = f"This file is a pickle: {PICKLE_RISK}."


def show_error(parent, title: str, message: str, details: str | None = None) -> None:
    """A short message; the traceback (or other long text) under 'Show Details...'."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("errorDialog")
    if details:
        box.setDetailedText(details)
    box.exec()


def show_info(parent, title: str, message: str) -> None:
    QMessageBox.information(parent, title, message)


def ask_directory(parent, start: str = "") -> str | None:
    """An experiment folder to open, or None."""
    path = QFileDialog.getExistingDirectory(parent, "Open experiment folder", start)
    return path or None


def ask_save_frame_path(parent, start: str = "", title: str | None = None) -> str | None:
    """Where to save the materialized frame; the suffix picks pickle or HDF5."""
    path, chosen = QFileDialog.getSaveFileName(
        parent, title or "Save materialized dataset", start,
        "HDF5 (*.h5 *.hdf5);;Pickle (*.pkl *.pickle)")
    if not path:
        return None
    if "." not in path.rsplit("/", 1)[-1]:
        path += ".pkl" if chosen.startswith("Pickle") else ".h5"
    return path


def ask_nwb_folder(parent, start: str = "") -> str | None:
    """The folder to export NWB files into (sub-<subject>/ folders go inside), or None."""
    path = QFileDialog.getExistingDirectory(parent, "Export NWB: choose (or create) a folder", start)
    return path or None


def confirm_overwrite_nwb(parent, folder: str, what: str) -> bool:
    """Replace NWB files an earlier export wrote in ``folder``?"""
    answer = QMessageBox.question(
        parent, "Replace NWB files?",
        f"{what}\n\nReplace them with a new export into {folder}?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Yes


def ask_open_frame_path(parent, start: str = "") -> str | None:
    """A saved dataset (.h5/.pkl) to open, or None."""
    path, _ = QFileDialog.getOpenFileName(
        parent, "Open saved dataset", start,
        "Saved datasets (*.h5 *.hdf5 *.pkl *.pickle);;All files (*)")
    return path or None


def confirm_pickle(parent, path: str) -> bool:
    """Ask before unpickling ``path`` (it can run code)."""
    answer = QMessageBox.warning(
        parent, "Open a pickle file?", f"{path}\n\n{PICKLE_WARNING}",
        QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Open


def ask_export_path(parent, title: str, start: str, file_filter: str) -> str | None:
    """A file to export a figure or table to, or None."""
    path, _ = QFileDialog.getSaveFileName(parent, title, start, file_filter)
    return path or None


def confirm_replace(parent, path: str) -> bool:
    """Replace an existing protocol file (its comments are not kept)?"""
    answer = QMessageBox.question(
        parent, "Replace datakit.toml?",
        f"{path} already exists.\n\nReplace it with the protocol shown? Its settings are kept; "
        "comments in it are not.",
        QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Save)
    return answer == QMessageBox.StandardButton.Save


def ask_protocol_path(parent, reason: str, start: str) -> str | None:
    """Another place for the protocol when the experiment folder cannot be written."""
    answer = QMessageBox.warning(parent, "Cannot save the protocol", reason,
                                 QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
                                 QMessageBox.StandardButton.Save)
    if answer != QMessageBox.StandardButton.Save:
        return None
    path, _ = QFileDialog.getSaveFileName(parent, "Save protocol", start, "Protocol (*.toml)")
    return path or None


def ask_unsaved_protocol(parent) -> str:
    """'save', 'discard' or 'cancel' for protocol edits that were not saved."""
    box = QMessageBox(QMessageBox.Icon.Question, "Unsaved protocol",
                      "You changed what the experiment's tasks should have, and did not save "
                      "it to datakit.toml. Save it first?",
                      QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                      | QMessageBox.StandardButton.Cancel, parent)
    box.setObjectName("unsavedProtocolDialog")
    answer = box.exec()
    return {QMessageBox.StandardButton.Save: "save",
            QMessageBox.StandardButton.Discard: "discard"}.get(QMessageBox.StandardButton(answer), "cancel")


def ask_run_on(parent, use: bool, address: str, path_map, workers: int):
    """Where jobs run: ``(use a Dask scheduler, its address, path map rules)``, or None
    when cancelled (see :class:`~datakit_gui.widgets.scheduler_dialog.SchedulerDialog`)."""
    from .widgets.scheduler_dialog import SchedulerDialog

    dialog = SchedulerDialog(parent, use=use, address=address, path_map=path_map, workers=workers)
    if QDialog.DialogCode(dialog.exec()) != QDialog.DialogCode.Accepted:
        return None
    return dialog.values()


def show_notifications(parent, notes, log_file=None) -> None:
    """The session's errors and warnings, newest first, each with its details."""
    from PySide6.QtWidgets import QDialogButtonBox, QPlainTextEdit, QVBoxLayout

    dialog = QDialog(parent)
    dialog.setObjectName("notificationsDialog")
    dialog.setWindowTitle("Errors and warnings")
    text = QPlainTextEdit()
    text.setReadOnly(True)
    blocks = []
    for note in reversed(list(notes)):
        stamp = time.strftime("%H:%M:%S", time.localtime(note.time))
        blocks.append(f"[{stamp}] {note.level.upper()}  {note.text()}"
                      + (f"\n{note.details.rstrip()}" if note.details else ""))
    text.setPlainText("\n\n".join(blocks) or "Nothing to report.")
    if log_file:
        text.appendPlainText(f"\n(All of this is also written to {log_file}.)")
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(text)
    layout.addWidget(buttons)
    dialog.resize(760, 420)
    dialog.exec()
