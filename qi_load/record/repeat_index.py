"""A repeat set's directory: ``repeat.json``, the index of its run directories."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from qi_load.errors import QiLoadError

__all__ = [
    "REPEAT_JSON",
    "RepeatIndex",
    "RepeatRun",
    "is_repeat_set",
    "read_index",
    "run_id_of",
    "write_index",
]

REPEAT_JSON: Final = "repeat.json"
SCHEMA_VERSION: Final = 1


@dataclass
class RepeatRun:
    """One run of the set: its id, its directory (relative to the set's), how it ended."""

    run_id: str
    path: str
    status: str


@dataclass
class RepeatIndex:
    set_id: str
    scenario: str
    requested: int
    """Runs asked for (``--repeat N``); ``runs`` lists those started so far."""
    created: float
    runs: list[RepeatRun] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION


def run_id_of(set_id: str, number: int) -> str:
    """The run directory name of the set's ``number``-th run (1-based)."""
    return f"{set_id}-r{number}"


def is_repeat_set(path: Path) -> bool:
    return (path / REPEAT_JSON).is_file()


def write_index(set_dir: Path, index: RepeatIndex) -> None:
    """Replace atomically: a reader (or a crash) never sees half an index."""
    path = set_dir / REPEAT_JSON
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(index), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _field(path: Path, data: dict[str, Any], key: str, *kinds: type) -> Any:
    value = data.get(key)
    if not isinstance(value, kinds) or isinstance(value, bool):
        expected = " or ".join(k.__name__ for k in kinds)
        raise QiLoadError(f"{path}: field {key!r}: expected {expected}, got {value!r}")
    return value


def read_index(set_dir: Path) -> RepeatIndex:
    """The set's index; a missing or malformed one is bad input (one line, exit 2)."""
    path = set_dir / REPEAT_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QiLoadError(f"{set_dir}: not a repeat set (no {REPEAT_JSON})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise QiLoadError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise QiLoadError(f"{path}: expected a JSON object")
    runs = []
    for i, entry in enumerate(_field(path, data, "runs", list)):
        if not isinstance(entry, dict):
            raise QiLoadError(f"{path}: runs[{i}]: expected an object, got {entry!r}")
        run = RepeatRun(
            run_id=_field(path, entry, "run_id", str),
            path=_field(path, entry, "path", str),
            status=_field(path, entry, "status", str),
        )
        if Path(run.path).is_absolute() or ".." in Path(run.path).parts:
            raise QiLoadError(f"{path}: runs[{i}].path {run.path!r}: must lie inside the set")
        runs.append(run)
    return RepeatIndex(
        set_id=_field(path, data, "set_id", str),
        scenario=_field(path, data, "scenario", str),
        requested=_field(path, data, "requested", int),
        created=float(_field(path, data, "created", int, float)),
        runs=runs,
        schema_version=_field(path, data, "schema_version", int),
    )
