"""File readers shared by the sources: one clear error per kind of bad file.

Every error names the file: an empty file, a file that is not text, a truncated or
malformed CSV/JSON, a dangling symlink.
"""
from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pandas as pd


def check_file(path) -> Path:
    """The path if it is a readable, non-empty regular file; else a clear error."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise FileNotFoundError(
                f"{path}: dangling symlink (points to {os.readlink(path)!s}, which does not exist)"
            ) from None
        raise FileNotFoundError(f"{path}: file not found") from None
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, expected a file")
    if st.st_size == 0:
        raise ValueError(f"{path}: file is empty (0 bytes)")
    return path


def read_csv(path, **kwargs) -> pd.DataFrame:
    """``pandas.read_csv`` with errors that say which file and what is wrong."""
    path = check_file(path)
    try:
        return pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: no columns to parse (empty or blank CSV)") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text CSV (undecodable bytes at offset {exc.start})") from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path}: malformed CSV: {exc}") from None


def read_header(path, max_bytes: int = 65536) -> list[str]:
    """The first line of a CSV split on commas (cheap; for format sniffing)."""
    path = check_file(path)
    with open(path, "rb") as fh:
        line = fh.readline(max_bytes)
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text CSV (first line is not UTF-8)") from None
    return [c.strip().strip('"') for c in text.strip().split(",")]


def require_columns(frame: pd.DataFrame, columns, path, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, list(frame.columns)[:10]))
        raise ValueError(f"{path}: not a {what}: missing column(s) {missing} (found: {found})")


def read_json(path):
    """Parse a JSON file (msgspec); truncation and garbage give a ValueError naming the file."""
    path = check_file(path)
    data = path.read_bytes()
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        hint = " (the file looks truncated)" if "truncated" in str(exc) else ""
        raise ValueError(f"{path}: invalid JSON{hint}: {exc}") from None
