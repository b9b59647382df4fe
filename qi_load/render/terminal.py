"""The report in the terminal: the steady-state stage table and one verdict line.

``qi-load run`` and ``qi-load report`` print this, built from the ``Summary`` that
``summary.json`` is written from, so every number in it is the report's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from qi_load.analyze.stages import StageStats
from qi_load.analyze.summary import Summary
from qi_load.metrics.percentile import Percentiles
from qi_load.render.text_table import format_table
from qi_load.render.traces import grown_first_line

__all__ = ["HEADERS", "LATENCIES", "stage_table", "terminal_summary", "verdict_line"]

_Latency = Literal["ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"]
LATENCIES: Final[tuple[tuple[str, _Latency], ...]] = (
    ("TTFT", "ttft_ms"),
    ("ITL", "itl_ms"),
    ("TPOT", "tpot_ms"),
    ("E2E", "e2e_ms"),
)
"""The latency columns: label and ``QueryStats`` key, each shown as p50/p95/p99 in ms."""
HEADERS: Final[tuple[str, ...]] = (
    "stage", "users", "window s", "n", "req/s", "out tok/s",
    *(f"{label} ms p50/p95/p99" for label, _ in LATENCIES),
    "errors", "valid",
)  # fmt: skip

_MAX_FAILURES: Final = 5
"""Failed checks listed above the verdict line; summary.json has them all."""


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def _triple(p: Percentiles) -> str:
    """``p50/p95/p99``, with ``*`` when the p99 rests on fewer than 100 values."""
    if not p["n"]:
        return "-"
    flag = "*" if p["p99_flagged"] else ""
    return f"{_ms(p['p50'])}/{_ms(p['p95'])}/{_ms(p['p99'])}{flag}"


def _users(count: int) -> str:
    return f"{count} user{'s' * (count != 1)}"


def _errors(by_kind: dict[str, int]) -> str:
    ordered = sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))
    return " ".join(f"{kind}:{count}" for kind, count in ordered) or "-"


def _row(s: StageStats) -> list[str]:
    o = s["overall"]
    window = f"{s['window_start'] - s['start']:.0f}-{s['window_end'] - s['start']:.0f}"
    return [
        s["name"], str(s["users"]), window, str(o["n"]),
        f"{o['throughput_rps']:.2f}", f"{o['output_tokens_per_s']:.1f}",
        *(_triple(o[key]) for _, key in LATENCIES),
        _errors(o["errors_by_kind"]),
        "yes" if s["invalid"] is None else "no",
    ]  # fmt: skip


def stage_table(stages: Sequence[StageStats]) -> str:
    """One row per stage over its steady-state window (seconds from the stage's start)."""
    return format_table(HEADERS, [_row(s) for s in stages])


def verdict_line(summary: Summary) -> str:
    """The verdict, the capacity, the knee and the first-saturated resource."""
    check, deg = summary["check"], summary["degradation"]
    failed = len(check["failures"])
    verdict = "PASS" if check["passed"] else f"FAIL ({failed} check{'s' * (failed != 1)})"
    limit = deg["scalability_limit"]
    at_limit = next((s for s in summary["stages"] if s["name"] == limit["stage"]), None)
    capacity = "-"
    if limit["users"] is not None:
        rate = f", {at_limit['overall']['throughput_rps']:.2f} req/s" if at_limit else ""
        capacity = f"{_users(limit['users'])}{rate} within the SLOs"
    knee = deg["knee"]
    knee_text = f"{_users(knee['users'])} ({knee['criterion']})" if knee["users"] else "none"
    sat = deg["first_saturated"]
    saturated = "none"
    if sat["resource"]:
        saturated = sat["resource"] + (f" at {_users(sat['users'])}" if sat["users"] else "")
    return (
        f"verdict {verdict} | capacity {capacity} | knee {knee_text} | first saturated {saturated}"
    )


def terminal_summary(summary: Summary) -> str:
    """Warnings (invalid stages and why among them), the stage table, the failed checks and
    the verdict line."""
    lines = [f"warning: {w}" for w in summary["warnings"]]
    if summary["stages"]:
        lines.append(stage_table(summary["stages"]))
    failures = summary["check"]["failures"]
    lines += [f"check failed: {f}" for f in failures[:_MAX_FAILURES]]
    if len(failures) > _MAX_FAILURES:
        lines.append(
            f"check failed: ... and {len(failures) - _MAX_FAILURES} more "
            "(summary.json check.failures)"
        )
    lines.append(verdict_line(summary))
    if (traces := summary.get("traces")) is not None:
        lines.append(grown_first_line(traces))
    return "\n".join(lines)
