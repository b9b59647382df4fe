"""The ladder a capacity is read from: valid stages with data, one per load, and which of
them hold enough requests to be judged."""

from __future__ import annotations

from collections.abc import Sequence

from qi_load.analyze.stages import StageStats
from qi_load.metrics.window import MIN_WINDOW_REQUESTS

__all__ = ["insufficient_note", "ladder", "sufficient"]


def ladder(stages: Sequence[StageStats]) -> list[StageStats]:
    """Valid stages with data, by users; repeated user counts (a ramp down) keep the first."""
    seen: set[int] = set()
    out = []
    for s in sorted(stages, key=lambda s: (s["users"], s["index"])):
        if s["invalid"] is None and s["overall"]["n"] > 0 and s["users"] not in seen:
            seen.add(s["users"])
            out.append(s)
    return out


def sufficient(stage: StageStats) -> bool:
    """Enough requests ended in the stage's window for its verdicts (knee, limit, SLOs)."""
    return stage["overall"]["n"] >= MIN_WINDOW_REQUESTS


def insufficient_note(stages: Sequence[StageStats]) -> str:
    """Which stages were left out for too few requests, e.g. ``baseline (n=6)``; "" if none."""
    thin = [f"{s['name']} (n={s['overall']['n']})" for s in stages if not sufficient(s)]
    if not thin:
        return ""
    return f"too few requests (< {MIN_WINDOW_REQUESTS}) to judge {', '.join(thin)}"
