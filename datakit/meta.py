"""Provenance: which datakit built a dataset (version, git state, runtime)."""
from __future__ import annotations

import datetime as _dt
import functools
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

#: The checkout this package was imported from (the folder holding ``datakit/``).
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_DIST_NAME = "datakit"


def _git(*args: str) -> str | None:
    """Run git in the project root; None when git, the repo or the answer is missing."""
    if not (_PROJECT_ROOT / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=_PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _installed_version() -> str | None:
    """Version of the installed ``datakit`` distribution, if it is this package."""
    try:
        dist = importlib.metadata.distribution(_DIST_NAME)
    except importlib.metadata.PackageNotFoundError:
        return None
    # Only trust it if that distribution ships this very package.
    try:
        located = Path(dist.locate_file("datakit")).resolve()
    except Exception:
        located = None
    if located is not None and located == Path(__file__).resolve().parent:
        return dist.version
    direct_url = dist.read_text("direct_url.json") or ""
    if str(_PROJECT_ROOT) in direct_url or _PROJECT_ROOT.as_uri() in direct_url:
        return dist.version  # editable install of this checkout
    return None


@functools.lru_cache(maxsize=1)
def get_version() -> str:
    """datakit's version: the installed distribution's (what pip shows), else git
    describe, else VERSION.  The git commit of a checkout is provenance, kept apart in
    :func:`build_meta` (``git_commit``, ``git_dirty``)."""
    installed = _installed_version()
    if installed:
        return installed
    described = _git("describe", "--tags", "--always", "--dirty")
    if described:
        return described
    version_file = _PROJECT_ROOT / "VERSION"
    if version_file.is_file():
        return version_file.read_text(encoding="utf-8").strip() or "0.0.0+unknown"
    return "0.0.0+unknown"


@functools.lru_cache(maxsize=1)
def _git_info() -> Dict[str, Any]:
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {}
    info: Dict[str, Any] = {
        "git_commit": commit,
        "git_commit_short": commit[:12],
        "git_branch": _git("symbolic-ref", "--short", "-q", "HEAD"),
        "git_describe": _git("describe", "--tags", "--always", "--dirty"),
        "git_tag": _git("describe", "--tags", "--exact-match"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }
    url = _git("config", "--get", "remote.origin.url")
    if url:
        if url.startswith("git@") and ":" in url:
            host, path = url[4:].split(":", 1)
            url = f"https://{host}/{path}"
        url = url.removesuffix(".git")
        info["git_url"] = url
        info["git_link"] = f"{url}/commit/{commit}"
    return info


def build_meta() -> Dict[str, Any]:
    """Return a snapshot of provenance metadata for the running package.

    ``built_at`` is regenerated on every call so embedded copies record the moment a
    dataset was materialized rather than when the module was imported.
    """
    version_file = _PROJECT_ROOT / "VERSION"
    meta: Dict[str, Any] = {
        "package": "datakit",
        "version": get_version(),
        "version_file": str(version_file) if version_file.is_file() else None,
        "version_installed": _installed_version(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "built_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
    meta.update(_git_info())
    return meta
