"""The rate sweep in the report: one row per step (synchronous, throughput, each rate)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from qi_load.analyze.capacity import fastest_held, stage_verdict
from qi_load.analyze.stages import StageStats
from qi_load.generate.sweep import SweepResult

__all__ = ["sweep_html", "sweep_markdown"]

_HEAD = [
    "step", "kind", "asked req/s", "req/s", "n", "TTFT p50/p95 ms", "E2E p50/p95 ms", "SLOs",
]  # fmt: skip
_SLOS = {"pass": "held", "fail": "failed", "insufficient_data": "too few", "no_slos": "-"}


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _rows(
    r: SweepResult, stages: Sequence[StageStats], fmt: Callable[[str], str]
) -> list[list[str]]:
    by_name = {s["name"]: s for s in stages}
    rows = []
    for step in r["steps"]:
        stage = by_name.get(step["stage"])
        o = stage["overall"] if stage is not None else None
        rows.append([
            fmt(step["stage"]),
            step["kind"],
            _n(step["target_rate"]),
            _n(o["throughput_rps"] if o else step["measured_rate"]),
            str(o["n"]) if o else "-",
            f"{_n(o['ttft_ms']['p50'])}/{_n(o['ttft_ms']['p95'])}" if o else "-",
            f"{_n(o['e2e_ms']['p50'])}/{_n(o['e2e_ms']['p95'])}" if o else "-",
            _SLOS[stage_verdict(stage)["status"]] if stage is not None else "-",
        ])  # fmt: skip
    return rows


def _line(r: SweepResult, stages: Sequence[StageStats]) -> str:
    names = {step["stage"] for step in r["steps"]}
    steps = [s for s in stages if s["name"] in names]
    best = fastest_held(steps)
    held = ""
    if best is not None:
        held = f"; every SLO held up to {_n(best['throughput_rps'])} req/s ({best['stage']})"
    elif any(stage_verdict(s)["status"] == "fail" for s in steps):
        held = "; no step held every SLO"
    return (
        f"sweep {r['stage']}: synchronous {_n(r['synchronous_rate'])} req/s, maximum "
        f"throughput {_n(r['max_rate'])} req/s, then {max(0, len(r['steps']) - 2)} open-loop "
        f"rates between (req/s: the report's steady-state window of each step){held}"
    )


def sweep_markdown(
    r: SweepResult, stages: Sequence[StageStats], fmt: Callable[[str], str]
) -> list[str]:
    lines = ["## Rate sweep", "", fmt(_line(r, stages)), "", "| " + " | ".join(_HEAD) + " |"]
    lines.append("|" + "---|" * len(_HEAD))
    lines += ["| " + " | ".join(row) + " |" for row in _rows(r, stages, fmt)]
    return [*lines, ""]


def sweep_html(r: SweepResult, stages: Sequence[StageStats]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in _HEAD)
    body = "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in _rows(r, stages, escape)
    )
    return (
        f"<h2>Rate sweep</h2><p>{escape(_line(r, stages))}</p><table><tr>{head}</tr>{body}</table>"
    )
