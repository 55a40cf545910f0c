"""Exceptions datakit raises on purpose (each subclasses a built-in users already catch)."""
from __future__ import annotations


class Cancelled(Exception):
    """A long job stopped because its ``cancel`` object was set."""


class LoadError(ValueError, RuntimeError):
    """A file failed to load during ``materialize(strict=True)``.

    Carries the full context as attributes; the original exception is ``__cause__``.
    It is both a ``ValueError`` (bad content) and a ``RuntimeError`` (what the earlier
    implementation raised), so existing ``except`` clauses keep working.
    """

    def __init__(self, subject, session, task, source, path, error_type, message):
        self.subject = subject
        self.session = session
        self.task = task
        self.source = source
        self.path = path
        self.error_type = error_type
        self.message = message
        where = f"subject={subject!r}, session={session!r}"
        if task is not None:
            where += f", task={task!r}"
        super().__init__(
            f"source {source!r} failed for {where}\n  file: {path}\n  {error_type}: {message}"
        )

    def __reduce__(self):
        return (type(self), (self.subject, self.session, self.task, self.source,
                             self.path, self.error_type, self.message))


class PickleRefused(PermissionError):
    """Safe mode is on and loading this file would unpickle it (run code from it)."""


def without_path(message, path) -> str:
    """A load error's message minus the file name it starts with, for showing beside the
    path (the command line's error lines, the app's report table)."""
    message, path = str(message or ""), str(path or "")
    if path and path in message:
        message = message.replace(f"{path}: ", "").replace(path, "the file")
    return message
