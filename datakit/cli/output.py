"""Printing for the CLI: safe stdio, tables as text/CSV/JSON, one-line messages.

Paths can hold bytes that are not UTF-8 (Python decodes them with surrogateescape);
every stream and file the CLI writes uses ``errors="backslashreplace"`` so such a name
prints as ``\\udcff`` instead of crashing.
"""
from __future__ import annotations

import io
import json
import math
import os
import sys
from pathlib import Path

from ..errors import without_path  # noqa: F401 - the CLI's name for it
from ..formats import plural  # noqa: F401 - the CLI uses out.plural

FORMATS = ("table", "csv", "json")
SUFFIX_FORMATS = {".csv": "csv", ".json": "json", ".txt": "table"}


def make_streams_safe() -> None:
    """Let stdout/stderr print any str (lone surrogates become backslash escapes)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None:
            continue
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError):  # a closed or detached stream: nothing to fix
            pass


def one_line(text) -> str:
    """``text`` on one line: lines stripped and joined (for stderr messages, table cells)."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def shorten(text, width: int = 160) -> str:
    text = one_line(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def middle(text, width: int = 100) -> str:
    """``text`` on one line, cut in the middle (a path keeps its start and its file name)."""
    text = one_line(text)
    if len(text) <= width:
        return text
    keep = width - 3
    return text[: keep // 2] + "..." + text[len(text) - (keep - keep // 2):]


def listing(items, limit: int = 10) -> str:
    items = [str(i) for i in items]
    if not items:
        return "none"
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... (+{len(items) - limit} more)"


def resolve_output_format(fmt: str | None, output) -> str:
    """``--format`` if given, else from the ``-o`` suffix (.csv/.json/.txt), else table."""
    if fmt is not None:
        return fmt
    if output is not None:
        return SUFFIX_FORMATS.get(Path(output).suffix.lower(), "table")
    return "table"


def plain(value):
    """A JSON-ready Python value (numpy scalars unwrapped, NaN/NA -> None)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        value = item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def records(frame, *, index: bool = True) -> list[dict]:
    """A DataFrame as a list of plain dicts (the index becomes leading columns)."""
    if index and any(name is not None for name in frame.index.names):
        frame = frame.reset_index()
    columns = [str(c) for c in frame.columns]
    return [dict(zip(columns, (plain(v) for v in row)))
            for row in frame.itertuples(index=False, name=None)]


def to_json(obj) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def to_csv(frame, *, index: bool = True) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=index)
    return buffer.getvalue()


def frame_text(frame, *, index: bool = True, empty: str = "(none)") -> str:
    if len(frame) == 0:
        return empty
    return frame.to_string(index=index)


def indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def emit(text: str, output=None) -> Path | None:
    """Print ``text`` to stdout, or write it to ``output`` (UTF-8) and return the path."""
    if not text.endswith("\n"):
        text += "\n"
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return None
    path = Path(output).expanduser()
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", errors="backslashreplace", newline="") as fh:
        fh.write(text)
    return path


def warn(message: str) -> None:
    print(f"datakit: warning: {one_line(message)}", file=sys.stderr, flush=True)


def note(message: str) -> None:
    print(f"datakit: {one_line(message)}", file=sys.stderr, flush=True)
