"""The report's leak findings, the agent's apart from qi-load's own processes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from qi_load.analyze.leaks import LeakFit, leaks_of
from qi_load.vocabulary import Side

__all__ = ["leak_findings", "process_label"]

_TITLES: Final[tuple[tuple[Side, str], ...]] = (
    ("agent", "Memory leaks"),
    ("qi-load", "Memory leaks in qi-load itself (the load generator, not the agent)"),
)


def process_label(fit: LeakFit) -> str:
    """``role host/pid``, with qi-load's own processes named as such."""
    own = "qi-load " if fit["side"] == "qi-load" else ""
    return f"{own}{fit['role']} {fit['host']}/{fit['pid']}"


def leak_findings(
    fits: Sequence[LeakFit], escape: Callable[[str], str] = str
) -> list[tuple[str, str]]:
    """(title, text) per side: the agent's leaks always, qi-load's own only when it leaks."""
    out = []
    for side, title in _TITLES:
        leaks = leaks_of(fits, side)
        if leaks or side == "agent":
            text = "; ".join(escape(f"{process_label(f)}: {f['detail']}") for f in leaks)
            out.append((title, text or "none found"))
    return out
