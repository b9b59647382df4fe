"""Scenario files for integration runs: short stages, a brief settle and think time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["write_scenario"]


def write_scenario(directory: Path, name: str, stages: list[dict[str, Any]], **fields: Any) -> Path:
    """Write scenario ``NAME`` to ``DIRECTORY/NAME.yaml``; ``fields`` add or replace keys."""
    body = {
        "name": name,
        "settle_s": 0.5,
        "think_time": {"kind": "constant", "seconds": 0.1},
        "stages": stages,
        **fields,
    }
    path = directory / f"{name}.yaml"
    path.write_text(json.dumps(body))  # JSON is YAML
    return path
