"""The report in the terminal: the steady-state stage table and one verdict line.

``qi-load run`` and ``qi-load report`` print this, built from the ``Summary`` that
``summary.json`` is written from, so every number in it is the report's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from qi_load.analyze.stages import StageStats
from qi_load.analyze.summary import Summary
from qi_load.render.cells import triple, verdict_word
from qi_load.render.text_table import format_table
from qi_load.render.traces import grown_first_line

__all__ = [
    "HEADERS",
    "LATENCIES",
    "capacity_text",
    "stage_table",
    "terminal_summary",
    "verdict_line",
]

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
        *(triple(o[key]) for _, key in LATENCIES),
        _errors(o["errors_by_kind"]),
        "yes" if s["invalid"] is None else "no",
    ]  # fmt: skip


def stage_table(stages: Sequence[StageStats]) -> str:
    """One row per stage over its steady-state window (seconds from the stage's start)."""
    return format_table(HEADERS, [_row(s) for s in stages])


def capacity_text(summary: Summary) -> str:
    """The headline: ``capacity 10 users (all SLOs), 3.60 req/s, fails at 20``."""
    cap = summary["capacity"]
    status = cap["status"]
    if status == "insufficient_data":
        return "capacity insufficient data"
    if status == "no_slos":
        return "capacity - (no SLOs)"
    above = cap["above_users"]
    if status == "below_lowest" or cap["users"] is None:
        return f"capacity below {_users(above)} (all SLOs)" if above else "capacity -"
    rate = f", {cap['throughput_rps']:.2f} req/s" if cap["throughput_rps"] is not None else ""
    bound = f", fails at {above}" if above is not None else ", the most tested"
    return f"capacity {_users(cap['users'])} (all SLOs){rate}{bound}"


def _requirement(summary: Summary) -> str:
    req = summary["requirement"]
    if req["kind"] is None or req["value"] is None:
        # Why nothing was judged: short stages against a slow server.
        if req["status"] == "insufficient_data":
            return "at every stage: insufficient data, no stage judged"
        return "at every stage" + (
            ": no SLOs" if summary["capacity"]["status"] == "no_slos" else ""
        )
    wanted = f"{req['value']:g} users" if req["kind"] == "users" else f"{req['value']:g} req/s"
    where = f" ({req['stage']})" if req["stage"] else ""
    state = {"insufficient_data": ": insufficient data", "not_reached": ": not reached"}
    return f"at the required {wanted}{where}{state.get(req['status'], '')}"


def verdict_line(summary: Summary) -> str:
    """The capacity, the verdict (at the required load), the knee and the first-saturated
    resource."""
    check, deg = summary["check"], summary["degradation"]
    failed = len(check["failures"])
    verdict = verdict_word(check)
    if check["verdict"] == "fail":
        verdict += f" ({failed} check{'s' * (failed != 1)})"
    knee = deg["knee"]
    knee_text = (
        f"{_users(knee['users'])} ({knee['criterion']})"
        if knee["users"]
        else "insufficient data"
        if knee.get("status") == "insufficient_data"
        else "none"
    )
    sat = deg["first_saturated"]
    saturated = "none"
    if sat["resource"]:
        saturated = sat["resource"] + (f" at {_users(sat['users'])}" if sat["users"] else "")
    return (
        f"{capacity_text(summary)} | verdict {verdict} {_requirement(summary)} | "
        f"knee {knee_text} | first saturated {saturated}"
    )


def _type_capacities(summary: Summary) -> str | None:
    per_type = summary["capacity"]["per_type"]
    if not per_type:
        return None
    shown = {"insufficient_data": "insufficient data", "no_slos": "-"}
    cells = []
    for qt, c in per_type.items():
        if c["users"] is not None:
            cells.append(f"{qt} {c['users']}")
        elif c["status"] == "below_lowest" and c["above_users"] is not None:
            cells.append(f"{qt} <{c['above_users']}")
        else:
            cells.append(f"{qt} {shown.get(c['status'], '-')}")
    return "capacity per query type (users): " + ", ".join(cells)


def terminal_summary(summary: Summary) -> str:
    """Warnings (invalid stages and why among them), the stage table, the failed checks and
    the verdict line."""
    lines = [f"warning: {w}" for w in summary["warnings"]]
    if summary["stages"]:
        lines.append(stage_table(summary["stages"]))
    failures = summary["check"]["failures"]
    lead = "not judged" if summary["check"]["verdict"] == "not_judged" else "check failed"
    lines += [f"{lead}: {f}" for f in failures[:_MAX_FAILURES]]
    if len(failures) > _MAX_FAILURES:
        lines.append(
            f"{lead}: ... and {len(failures) - _MAX_FAILURES} more (summary.json check.failures)"
        )
    if (per_type := _type_capacities(summary)) is not None:
        lines.append(per_type)
    lines.append(verdict_line(summary))
    if (traces := summary.get("traces")) is not None:
        lines.append(grown_first_line(traces))
    return "\n".join(lines)
