"""A repeat set's figure: each stage's E2E p50/p95 and throughput with its between-run interval."""

from __future__ import annotations

import io

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from qi_load.analyze.repeat_set import SetSummary, StageKey, StageSpread
from qi_load.analyze.repeats import Interval

__all__ = ["set_figure_png"]


def _bar(iv: Interval) -> tuple[float, float, float]:
    """Mean, and the distances down and up to the interval's ends (none with one run)."""
    mean = float(iv["mean"] or 0.0)
    low = mean if iv["low"] is None else iv["low"]
    high = mean if iv["high"] is None else iv["high"]
    return mean, mean - low, high - mean


def _series(ax: Axes, stages: list[StageSpread], key: StageKey, label: str, color: str) -> None:
    points = [(s["users"], _bar(s[key])) for s in stages if s[key]["mean"] is not None]
    if not points:
        return
    users = [u for u, _ in points]
    means = [b[0] for _, b in points]
    below = [b[1] for _, b in points]
    above = [b[2] for _, b in points]
    ax.errorbar(users, means, yerr=[below, above], label=label, color=color, marker="o", capsize=4)


def set_figure_png(s: SetSummary) -> bytes | None:
    """Latency and throughput against users (log axis); ``None`` when no stage has a value."""
    stages = [st for st in s["stages"] if st["users"] > 0]
    if not any(st["throughput_rps"]["mean"] is not None for st in stages):
        return None
    fig = Figure(figsize=(10, 4))
    latency, rate = fig.subplots(1, 2)
    _series(latency, stages, "e2e_p50_ms", "E2E p50", "#1f77b4")
    _series(latency, stages, "e2e_p95_ms", "E2E p95", "#d62728")
    _series(rate, stages, "throughput_rps", "throughput", "#2ca02c")
    ticks = sorted({st["users"] for st in stages})
    for ax, unit in ((latency, "ms"), (rate, "req/s")):
        ax.set_xscale("log")
        # The stages' own user counts on the axis, not powers of ten.
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("users")
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
    fig.suptitle(f"means over the runs with their {s['level']:.0%} intervals ({s['method']})")
    fig.tight_layout()
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()
