"""Importing datakit has no surprises: no Qt, no logging setup, no excepthook, no files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, logging, os, sys
before_hook = sys.excepthook
before_handlers = list(logging.getLogger().handlers)
before_files = set(os.listdir("."))
import datakit
ds_cls = datakit.Dataset
datakit.available_tags()          # loads every built-in source module too
qt = sorted(m for m in sys.modules if m.split(".")[0] in
            ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "qtconsole", "datakit_gui", "qtpy"))
dask = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
print(json.dumps({
    "qt": qt,
    "dask": dask,
    "hook_changed": sys.excepthook is not before_hook,
    "root_handlers_changed": list(logging.getLogger().handlers) != before_handlers,
    "datakit_handlers": [type(h).__name__ for h in logging.getLogger("datakit").handlers],
    "new_files": sorted(set(os.listdir(".")) - before_files),
}))
"""


def test_import_datakit_loads_no_qt_and_configures_nothing(tmp_path):
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["qt"] == []
    assert report["dask"] == []          # distributed is imported only to run on a cluster
    assert not report["hook_changed"]
    assert not report["root_handlers_changed"]
    assert report["datakit_handlers"] == ["NullHandler"]
    assert report["new_files"] == []
    assert out.stderr == ""
