"""Cells every report format shares: a latency in ms, p50/p95/p99 with its n, the verdict."""

from __future__ import annotations

from qi_load.analyze.summary import CheckResult
from qi_load.metrics.percentile import Percentiles

__all__ = ["ms", "triple", "triple_n", "verdict_word"]


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def triple(p: Percentiles) -> str:
    """``p50/p95/p99``, with ``*`` when the p99 rests on fewer than 100 values."""
    if not p["n"]:
        return "-"
    flag = "*" if p["p99_flagged"] else ""
    return f"{ms(p['p50'])}/{ms(p['p95'])}/{ms(p['p99'])}{flag}"


def triple_n(p: Percentiles) -> str:
    """``p50/p95/p99 (n=N)``: every percentile shown with the count it rests on."""
    return f"{triple(p)} (n={p['n']})" if p["n"] else "- (n=0)"


def verdict_word(check: CheckResult) -> str:
    """``PASS``, ``FAIL`` or ``NOT JUDGED`` (no stage had enough requests: not a pass)."""
    return {"pass": "PASS", "fail": "FAIL", "not_judged": "NOT JUDGED"}[check["verdict"]]
