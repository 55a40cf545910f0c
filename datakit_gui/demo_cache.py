"""The demo experiment behind ``datakit-gui --demo``: written once into the user's cache.

``$XDG_CACHE_HOME/datakit/demo`` (default ``~/.cache/datakit/demo``).  It is generated
into a temporary sibling folder and renamed into place with a marker file, so an
interrupted first run never leaves a half-written demo that later runs would trust.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

MARKER = ".datakit-demo-complete"
DEMO_SETTINGS = {"subjects": 3, "sessions": 2, "duration": 120.0, "seed": 0}
#: bumped when the generator writes something new (2: datakit.toml and manifest.json), so
#: a demo written by an older datakit is written again rather than shown without it
DEMO_VERSION = "2"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "datakit" / "demo"


def is_ready(root: Path | None = None) -> bool:
    marker = (root or cache_root()) / MARKER
    try:
        return marker.read_text(encoding="utf-8").split()[-1] == f"v{DEMO_VERSION}"
    except (OSError, IndexError, UnicodeDecodeError):
        return False


def ensure_demo(root: Path | None = None, *, progress=None, cancel=None, **settings) -> Path:
    """The demo folder, generated first if needed (``settings`` override DEMO_SETTINGS)."""
    from datakit.demo import generate

    root = Path(root) if root is not None else cache_root()
    if is_ready(root):
        return root
    partial = root.with_name(f"{root.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    options = {**DEMO_SETTINGS, **settings}
    try:
        generate(partial, progress=progress or False, cancel=cancel, **options)
        (partial / MARKER).write_text(f"written by datakit-gui --demo v{DEMO_VERSION}\n",
                                      encoding="utf-8")
        if root.exists():
            shutil.rmtree(root)
        os.replace(partial, root)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return root
