"""Workarounds for running Qt from Python: PySide6 6.12.0 refcounts, GC in worker threads.

1. Reference-count bugs of PySide6 6.12.0 on Python 3.11 (found building this app).

Measured with PySide6-Essentials 6.12.0 / CPython 3.11:

* every call of a method returning ``void`` (``widget.setToolTip(...)``, ``resize``,
  ``update``, ...) returns ``None`` without taking a reference to it;
* ``SignalInstance.emit()`` returns ``True`` without taking a reference to it.

So every such call steals one reference to ``None`` or ``True``, and after some thousands
of calls CPython aborts with "Fatal Python error: none_dealloc" (or "bool_dealloc"),
at the latest when the interpreter exits.  Python 3.12+ makes these objects immortal and
is not affected; neither are PySide6 versions without the bug.

:func:`apply` measures both leaks and, only when present, gives ``None``, ``True`` and
``False`` a reference count so large that they can never reach zero, which is what
Python 3.12 does for every program.  It is idempotent and changes nothing otherwise.

2. Python's cyclic garbage collector runs in whichever thread happens to allocate; when
that is a job's worker thread and the garbage holds Qt wrappers, Qt objects get deleted
outside the GUI thread and the app segfaults.  :func:`collect_in_gui_thread` hands
collection to pyqtgraph's GarbageCollector (automatic GC off, a GUI-thread timer collects).
"""
from __future__ import annotations

import ctypes
import gc
import sys

_PROBES = 32
_HEADROOM = 1 << 40
_applied = False
_collector = None
_holders = 0


def _probe() -> dict:
    """References to None and True lost by ``_PROBES`` void calls and signal emits."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        fired = Signal()

    probe = _Probe()
    none_before = sys.getrefcount(None)
    for _ in range(_PROBES):
        probe.setObjectName("probe")
    none_lost = none_before - sys.getrefcount(None)
    true_before = sys.getrefcount(True)
    for _ in range(_PROBES):
        probe.fired.emit()
    true_lost = true_before - sys.getrefcount(True)
    return {"none": none_lost, "true": true_lost}


def _bump(n: int) -> None:
    for value in (None, True, False):
        ctypes.c_ssize_t.from_address(id(value)).value += n


def affected() -> bool:
    """Does this PySide6 lose references to None or True (see module doc)?"""
    lost = _probe()
    give_back = max(lost["none"], lost["true"], 0)
    if give_back:
        _bump(give_back)
    return lost["none"] >= _PROBES or lost["true"] >= _PROBES


def apply() -> bool:
    """Protect None/True/False if this PySide6 needs it; True when the workaround is active."""
    global _applied
    if _applied:
        return True
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    if affected():
        _bump(_HEADROOM)
        _applied = True
    return _applied


def collect_in_gui_thread(interval_s: float = 1.0):
    """Collect cyclic garbage only in the GUI thread, on a timer, while a window needs it.

    Each call takes a hold (a main window calls it once); :func:`release_gui_collector`
    gives it back, and the last release turns Python's automatic collection on again.
    """
    global _collector, _holders
    _holders += 1
    if _collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _collector = GarbageCollector(interval=interval_s)
    return _collector


def release_gui_collector() -> None:
    global _collector, _holders
    _holders = max(0, _holders - 1)
    if _holders == 0 and _collector is not None:
        _collector.timer.stop()
        _collector = None
        gc.enable()
