"""Progress reporting shared by every long job.

``progress`` is ``False`` (silent), ``True`` (a tqdm bar on stderr) or a callable
``progress(done, total, message)``.  ``total`` is 0 while the amount of work is unknown
(discovery walks folders it has not seen yet).
"""
from __future__ import annotations

import sys
from typing import Callable


class Reporter:
    def __init__(self, progress, *, total: int = 0, unit: str = "it", desc: str = ""):
        self.done = 0
        self.total = int(total)
        self._callback: Callable | None = None
        self._bar = None
        if progress is True:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total or None, unit=unit, desc=desc,
                             file=sys.stderr, dynamic_ncols=True, leave=False)
        elif callable(progress):
            self._callback = progress
        elif progress not in (False, None):
            raise TypeError(
                "progress must be False, True or a callable progress(done, total, message); "
                f"got {type(progress).__name__}"
            )

    def set_total(self, total: int) -> None:
        self.total = int(total)
        if self._bar is not None:
            self._bar.total = self.total or None
            self._bar.refresh()

    @property
    def active(self) -> bool:
        """Does anyone see the progress (a bar or a callback)?"""
        return self._bar is not None or self._callback is not None

    def advance(self, n: int = 1, message: str = "") -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            if message:
                self._bar.set_postfix_str(message[-60:], refresh=False)
        elif self._callback is not None:
            self._callback(self.done, self.total, message)

    def note(self, message: str) -> None:
        """Say what is happening now without counting work (e.g. a final flush)."""
        if self._bar is not None:
            self._bar.set_postfix_str(message[-60:], refresh=True)
        elif self._callback is not None:
            self._callback(self.done, self.total, message)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
