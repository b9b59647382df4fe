"""The capacity search of a run, as its master recorded it (``search.json``), for the report."""

from __future__ import annotations

import json
from pathlib import Path

from qi_load.generate.search import SEARCH_JSON, SearchResult

__all__ = ["load_search"]


def load_search(run_path: Path) -> tuple[SearchResult | None, str | None]:
    """The run's search result (None when the run had no search stage) and a warning when its
    file is unreadable; the result is the master's own record, never recomputed, so the report
    shows the decisions the search took."""
    path = run_path / SEARCH_JSON
    if not path.is_file():
        return None, None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, f"{SEARCH_JSON} unreadable ({exc}): the capacity search is not reported"
    if not isinstance(data, dict) or not isinstance(data.get("path"), list):
        return None, f"{SEARCH_JSON} is not a search result: the capacity search is not reported"
    result: SearchResult = data  # type: ignore[assignment]
    return result, None
