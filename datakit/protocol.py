"""The protocol file ``datakit.toml``: which sources every recording of a task should have.

At an experiment root::

    [expected]                  # task label -> sources every cell of that task should have
    "task-widefield" = ["dataqueue", "treadmill", "meso_mean", "notes"]
    "task-gratings"  = ["dataqueue", "wheel", "psychopy"]
    "*" = ["session_config"]    # every task (and an experiment without a task level)

    [sessions]
    tasks = ["task-widefield", "task-gratings"]   # tasks every (subject, session) should have

Reading never raises for the file's content: a malformed file, a key that is not a
``task-`` label, an unknown source name or a value of the wrong type is an
:class:`ExpectationWarning` naming the file and the key, and that part is left out (the
next rule, ``manifest.json`` or inference, decides instead).  Tables datakit does not
know are kept and written back by :meth:`Protocol.write`; comments are not.
"""
from __future__ import annotations

import json
import math
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

PROTOCOL_FILE = "datakit.toml"
ANY_TASK = "*"
_TASK_LABEL = re.compile(r"^task-[A-Za-z0-9]+$")
_KNOWN_TABLES = ("expected", "sessions")


HEADER = ("# datakit protocol: the sources every recording of a task should have.",
          "# \"*\" = sources every task expects; [sessions] tasks = tasks every session should have.")


class ExpectationWarning(UserWarning):
    """A protocol file or manifest could not be used (in part); the next rule decides."""


def _tomllib():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib


@dataclass(frozen=True)
class Protocol:
    """What a lab declared: ``expected`` (task label or ``"*"`` -> source tags) and
    ``tasks`` (the tasks every recorded (subject, session) should have)."""

    expected: dict = field(default_factory=dict)
    tasks: tuple = ()
    path: Path | None = None
    extra: dict = field(default_factory=dict)   # other tables of the file, written back
    comments: bool = False   # the file had comments of its own (write() cannot keep them)

    def __post_init__(self):
        expected = {str(k): tuple(dict.fromkeys(str(s) for s in v)) for k, v in dict(self.expected).items()}
        object.__setattr__(self, "expected", expected)
        object.__setattr__(self, "tasks", tuple(dict.fromkeys(str(t) for t in self.tasks)))

    def declares(self, task: str) -> bool:
        return task in self.expected

    def sources_for(self, task: str) -> tuple:
        """Sources declared for ``task`` plus those every task expects (``"*"``)."""
        return tuple(dict.fromkeys(self.expected.get(task, ()) + self.expected.get(ANY_TASK, ())))

    def with_expected(self, task: str, source: str, expected: bool = True, *,
                      seed=()) -> "Protocol":
        """A copy where ``source`` is (or is not) expected in ``task``.

        A task the protocol does not declare yet starts from ``seed`` (what the other
        rules expect there now), so declaring one source keeps the rest as they were.
        """
        _check_task_key(task)
        current = list(self.expected.get(task, tuple(seed)))
        if expected and source not in current:
            current.append(source)
        elif not expected:
            current = [s for s in current if s != source]
        return Protocol({**self.expected, task: tuple(current)}, self.tasks, self.path, self.extra,
                        self.comments)

    def to_toml(self) -> str:
        lines = list(HEADER) + [""]
        # plain keys must come before the first table header
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in self.extra.items()
                  if not isinstance(v, dict)]
        lines.append("[expected]")
        for task in sorted(self.expected, key=lambda t: (t != ANY_TASK, t)):
            lines.append(f"{_toml_value(task)} = {_toml_value(list(self.expected[task]))}")
        if self.tasks or "sessions" in self.extra:
            sessions = dict(self.extra.get("sessions", {}))
            sessions["tasks"] = list(self.tasks)
            lines += ["", "[sessions]"] + [f"{_toml_key(k)} = {_toml_value(v)}"
                                           for k, v in sessions.items()]
        for name, value in self.extra.items():
            if name != "sessions" and isinstance(value, dict):
                lines += ["", f"[{_toml_key(name)}]"]
                lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()]
        return "\n".join(lines) + "\n"

    def write(self, path) -> Path:
        """Write atomically (a temporary file beside ``path``, then a rename)."""
        from .io import write_atomic

        return write_atomic(path, self.to_toml().encode("utf-8"))


def _check_task_key(task: str) -> None:
    if task != ANY_TASK and not _TASK_LABEL.match(str(task)):
        raise ValueError(f"a protocol task must be a 'task-<label>' label or '*', got {task!r}")


# reading -------------------------------------------------------------------------------


def read_protocol(root, known_sources) -> Protocol | None:
    """The protocol of an experiment root, or None when it has no ``datakit.toml``."""
    path = Path(root) / PROTOCOL_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        _warn(path, f"cannot be read ({exc.strerror or exc})")
        return None
    return parse_protocol(data, path, known_sources)


def parse_protocol(data: bytes | str, path, known_sources) -> Protocol | None:
    """Parse protocol text; every problem is an ExpectationWarning (see module doc)."""
    path = Path(path)
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        table = _tomllib().loads(text)
    except UnicodeDecodeError as exc:
        _warn(path, f"is not UTF-8 text ({exc.reason} at byte {exc.start})")
        return None
    except ValueError as exc:    # tomllib.TOMLDecodeError
        _warn(path, f"is not valid TOML: {exc}")
        return None
    known = set(known_sources)
    expected: dict[str, tuple] = {}
    raw = table.get("expected", {})
    if not isinstance(raw, dict):
        _warn(path, "[expected] must be a table of task label = [sources]; ignored")
        raw = {}
    for key, value in raw.items():
        if key != ANY_TASK and not _TASK_LABEL.match(key):
            hint = f" (did you mean \"task-{key}\"?)" if re.match(r"^[A-Za-z0-9]+$", key) else ""
            _warn(path, f"[expected] key {key!r} is not a task label like \"task-widefield\" "
                        f"or \"*\"{hint}; ignored")
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            _warn(path, f"[expected] {key!r} must be a list of source names; ignored")
            continue
        unknown = [v for v in value if v not in known]
        if unknown:
            _warn(path, f"[expected] {key!r} names unknown source(s) {unknown}; they are left out "
                        f"(known: {', '.join(sorted(known))})")
        expected[key] = tuple(v for v in value if v in known)
    tasks: list[str] = []
    sessions = table.get("sessions", {})
    if not isinstance(sessions, dict):
        _warn(path, "[sessions] must be a table; ignored")
        sessions = {}
    raw_tasks = sessions.get("tasks", [])
    if not isinstance(raw_tasks, list):
        _warn(path, "[sessions] tasks must be a list of task labels; ignored")
        raw_tasks = []
    for value in raw_tasks:
        if isinstance(value, str) and _TASK_LABEL.match(value):
            tasks.append(value)
        else:
            _warn(path, f"[sessions] tasks: {value!r} is not a task label like \"task-widefield\"; ignored")
    for name in table:
        if name not in _KNOWN_TABLES:
            _warn(path, f"unknown key or table {name!r} is not used (datakit reads [expected] "
                        "and [sessions]); it is kept when datakit writes the file")
    extra = {k: v for k, v in table.items() if k not in ("expected",)}
    if isinstance(extra.get("sessions"), dict):
        extra["sessions"] = {k: v for k, v in extra["sessions"].items() if k != "tasks"}
        if not extra["sessions"]:
            del extra["sessions"]
    elif "sessions" in extra:
        del extra["sessions"]
    comments = any(line.strip().startswith("#") and line.strip() not in HEADER
                   for line in text.splitlines())
    return Protocol(expected, tuple(tasks), path, extra, comments)


def _warn(path, message: str) -> None:
    warnings.warn(f"{path}: {message}", ExpectationWarning, stacklevel=4)


# writing (a small TOML emitter for what the reader accepts) ----------------------------


def _toml_key(key: str) -> str:
    return key if re.match(r"^[A-Za-z0-9_-]+$", key) else _toml_value(key)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    # dates and times print in TOML's own form
    return value.isoformat()

