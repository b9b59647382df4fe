"""The stepped stages of a run as its master recorded them (``search.json``, ``sweep.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qi_load.generate.search import SEARCH_JSON, SearchResult
from qi_load.generate.sweep import SWEEP_JSON, SweepResult

__all__ = ["load_search", "load_sweep"]


def _load(path: Path, key: str) -> tuple[dict[str, Any] | None, str | None]:
    """The file's mapping (None when absent) and a warning when it is unreadable; the content
    is the master's own record, never recomputed, so the report shows what the run decided."""
    if not path.is_file():
        return None, None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, f"{path.name} unreadable ({exc}): it is left out of the report"
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        return None, f"{path.name} lacks its {key!r} list: it is left out of the report"
    return data, None


def load_search(run_path: Path) -> tuple[SearchResult | None, str | None]:
    """The run's capacity search (None without a search stage) and a warning, if any."""
    data, warning = _load(run_path / SEARCH_JSON, "path")
    return data, warning  # type: ignore[return-value]


def load_sweep(run_path: Path) -> tuple[SweepResult | None, str | None]:
    """The run's rate sweep (None without a sweep stage) and a warning, if any."""
    data, warning = _load(run_path / SWEEP_JSON, "steps")
    return data, warning  # type: ignore[return-value]
