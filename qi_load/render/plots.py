"""Report figures as PNG bytes (matplotlib's object API on the Agg canvas, no pyplot state).

Each figure draws a series of qi_load.render.series; a panel without data says why.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from qi_load.analyze.load import RunData
from qi_load.analyze.stages import PHASES, StageStats
from qi_load.analyze.summary import Summary
from qi_load.render import series

__all__ = ["PLOTS", "render_plots"]

_PHASE_COLORS: Final = {
    "request": "#8da0cb",
    "tool": "#66c2a5",
    "llm": "#fc8d62",
    "format": "#e78ac3",
}


_DPI: Final = 90


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes, laid out once: ``savefig`` with a layout engine would first
    draw the whole figure without output just to run the layout, then draw it again."""
    FigureCanvasAgg(fig)
    fig.set_dpi(_DPI)  # the layout measures text at the dpi the PNG is drawn at
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
        fig.set_layout_engine("none")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_xticks([])
    ax.set_yticks([])


def _note(ax: Axes, text: str) -> None:
    """A note over a panel that still shows something (its axes, bands or other series)."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")


_SLO_STYLE: Final = {"e2e_p95_ms": "--", "ttft_p95_ms": ":"}


def _slo_lines(ax: Axes, lines: Sequence[series.SloLine]) -> None:
    """A horizontal line per latency SLO limit, labelled with the types it applies to."""
    for line in lines:
        ax.axhline(line.limit_ms, color="#b22", lw=0.8, alpha=0.6,
                   linestyle=_SLO_STYLE.get(line.metric, "--"), label=line.label)  # fmt: skip


def _users_axis(ax: Axes) -> None:
    """Users on a log axis (1, 5 and 10 users do not crowd together), ticks at the users;
    linear below one user, so an idle stage (0 users) still has a place."""
    ax.set_xscale("symlog", linthresh=1.0)
    ax.xaxis.set_major_formatter("{x:g}")


def degradation_figure(summary: Summary, run: RunData) -> Figure:
    """Latency percentiles, throughput (with the ideal line) and error rate against users,
    and latency against throughput, with the knee and the SLO limits."""
    c = series.curves(summary)
    fig = Figure(figsize=(13, 8), layout="constrained")
    (ax1, ax2), (ax3, ax4) = fig.subplots(2, 2)
    if not c.users.size:
        for ax in (ax1, ax2, ax3, ax4):
            _empty(ax, "no stages")
        return fig
    slos = series.slo_lines(run)
    for key, label in (
        ("e2e_p50_ms", "E2E p50"),
        ("e2e_p95_ms", "E2E p95"),
        ("e2e_p99_ms", "E2E p99"),
        ("ttft_p95_ms", "TTFT p95"),
    ):
        ax1.plot(c.users, c.columns[key], marker="o", label=label)
    if c.note:
        _note(ax1, c.note)
    _slo_lines(ax1, slos)
    ax1.set(title="Latency vs users", xlabel="users (log)", ylabel="ms")
    ax2.plot(c.users, c.columns["throughput_rps"], marker="o", label="throughput")
    ax2.plot(c.users, c.columns["goodput_rps"], marker="s", label="goodput")
    if c.per_user_rps:
        ax2.plot(c.users, c.users * c.per_user_rps, "--", color="#999", label="ideal (linear)")
    ax2.set(title="Throughput vs users", xlabel="users (log)", ylabel="req/s")
    ax3.plot(c.users, c.columns["error_rate"] * 100.0, marker="o", color="#d62728")
    ax3.set(title="Error rate vs users", xlabel="users (log)", ylabel="%")
    _latency_vs_throughput(ax4, c, slos)
    for ax in (ax1, ax2, ax3):
        _users_axis(ax)
        if c.knee is not None:
            ax.axvline(c.knee, color="#d62728", linestyle=":", label=f"knee ({c.knee} users)")
        if (~c.valid).any():
            ax.scatter(c.users[~c.valid], np.zeros((~c.valid).sum()), marker="x", color="k",
                       label="invalid stage", zorder=5)  # fmt: skip
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=8)
    return fig


def _latency_vs_throughput(ax: Axes, c: series.Curves, slos: Sequence[series.SloLine]) -> None:
    """E2E and TTFT p95 against throughput, one point per stage labelled with its users:
    past the knee, latency climbs while throughput stops growing."""
    x = c.columns["throughput_rps"]
    ax.plot(x, c.columns["e2e_p95_ms"], marker="o", label="E2E p95")
    ax.plot(x, c.columns["ttft_p95_ms"], marker="s", label="TTFT p95")
    for xi, yi, users in zip(x, c.columns["e2e_p95_ms"], c.users, strict=True):
        if np.isfinite(xi) and np.isfinite(yi):
            ax.annotate(f"{users:g}u", (xi, yi), textcoords="offset points", xytext=(4, 4),
                        fontsize=7, color="#555")  # fmt: skip
    if c.knee is not None:
        at = np.flatnonzero(c.users == c.knee)
        if at.size and np.isfinite(c.columns["e2e_p95_ms"][at[0]]):
            ax.scatter(x[at[0]], c.columns["e2e_p95_ms"][at[0]], s=120, facecolors="none",
                       edgecolors="#d62728", zorder=6, label=f"knee ({c.knee} users)")  # fmt: skip
    _slo_lines(ax, slos)
    if c.note:
        _note(ax, c.note)
    ax.set(title="Latency vs throughput", xlabel="throughput req/s", ylabel="ms")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


_BAND_LEGEND: Final = (
    Patch(facecolor="#eeeeee", edgecolor="#ccc", label="stage (alternating shade)"),
    Patch(facecolor="#cfe2f3", alpha=0.6, label="steady-state window (analysed)"),
    Patch(facecolor="#f4cccc", alpha=0.6, label="invalid stage"),
)


def _band_legend(ax: Axes) -> None:
    """What the stage bands mean, as a second legend below the axes."""
    ax.add_artist(ax.legend(handles=list(_BAND_LEGEND), fontsize=7, loc="upper right",
                            framealpha=0.8))  # fmt: skip


def _bands(ax: Axes, stages: Sequence[StageStats], t0: float) -> None:
    for i, s in enumerate(stages):
        color = "#f4cccc" if s["invalid"] else ("#eeeeee" if i % 2 else "#ffffff")
        ax.axvspan(s["start"] - t0, s["end"] - t0, color=color, alpha=0.6, lw=0)
        ax.axvspan(s["window_start"] - t0, s["window_end"] - t0, color="#cfe2f3", alpha=0.25, lw=0)
        middle = (s["start"] + s["end"]) / 2 - t0
        note = series.stage_note(s)
        ax.text(middle, 0.98, s["name"] + (f"\n({note})" if note else ""),
                transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=7,
                color="#555")  # fmt: skip


def timeline_figure(summary: Summary, run: RunData) -> Figure:
    """E2E/TTFT percentiles and throughput over time, binned, with stage bands."""
    fig = Figure(figsize=(13, 6), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    tl = series.timeline(summary, run)
    if tl is None:
        _empty(ax1, "no requests")
        _empty(ax2, "no requests")
        return fig
    for (label, values), style in zip(tl.latency.items(), ("-", "-", "--"), strict=True):
        ax1.plot(tl.x, values, style, lw=1, label=label)
    if not tl.x.size:
        _note(ax1, "no successful requests")
    _slo_lines(ax1, series.slo_lines(run, ("e2e_p95_ms",)))
    ax1.set(ylabel="ms", title=f"Latency over time ({tl.width:g} s bins)")
    ax2.plot(tl.ok_x, tl.ok_rate, lw=1, label="ok")
    if tl.failed_x.size:
        ax2.plot(tl.failed_x, tl.failed_rate, lw=1, color="#d62728", label="failed")
    ax2.set(ylabel="req/s", xlabel="seconds since the test started", title="Throughput over time")
    for ax in (ax1, ax2):
        _bands(ax, summary["stages"], tl.t0)
        _band_legend(ax)
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    return fig


def resources_figure(summary: Summary, run: RunData) -> Figure:
    """CPU and RSS over time, one line per process, coloured by role."""
    fig = Figure(figsize=(13, 6), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    traces = series.resources(summary, run)
    if not traces:
        _empty(ax1, "no host samples")
        _empty(ax2, "no host samples")
        return fig
    for trace in traces:
        ax1.plot(trace.x, trace.cpu_percent, lw=1, label=trace.label)
        ax2.plot(trace.x, trace.rss_mb, lw=1, label=trace.label)
    ax1.set(ylabel="CPU % (100 = one core)", title="CPU per process")
    ax2.set(
        ylabel="RSS MB", xlabel="seconds since the test started", title="Memory (RSS) per process"
    )
    t0 = series.origin(summary, run)
    for ax in (ax1, ax2):
        _bands(ax, summary["stages"], t0)
        _band_legend(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", ncol=3)
    return fig


def distributions_figure(summary: Summary, run: RunData) -> Figure:
    """E2E and TTFT distributions per query type (successful requests), each type's p95 SLO
    a vertical line in its colour."""
    del summary
    fig = Figure(figsize=(13, 4), layout="constrained")
    metrics = ("e2e_p95_ms", "ttft_p95_ms")
    for ax, dist, metric in zip(
        fig.subplots(1, 2), series.distributions(run), metrics, strict=True
    ):
        if dist.note:
            _empty(ax, dist.note)
            continue
        limits = {t: line.limit_ms for line in series.slo_lines(run, (metric,)) for t in line.types}
        for hist in dist.histograms:
            (drawn,) = [ax.stairs(hist.counts, dist.edges, label=hist.label)]
            if hist.query_type in limits:
                ax.axvline(limits[hist.query_type], color=drawn.get_edgecolor(), lw=0.8,
                           linestyle="--")  # fmt: skip
        ax.set_xscale("log")
        ax.set(
            title=f"{dist.title} distribution per query type (dashed: its p95 SLO)",
            xlabel="ms (log)",
            ylabel="requests",
        )
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def phases_figure(summary: Summary, run: RunData) -> Figure:
    """Mean server phases (request / tool / LLM / format) per stage, stacked."""
    del run
    fig = Figure(figsize=(13, 4), layout="constrained")
    ax = fig.subplots()
    ph = series.phases(summary)
    if not ph.labels:
        _empty(ax, "the server reported no phase timings")
        return fig
    x = np.arange(len(ph.labels))
    bottom = np.zeros(len(ph.labels))
    for phase in PHASES:
        ax.bar(x, ph.values[phase], bottom=bottom, label=phase, color=_PHASE_COLORS[phase])
        bottom += ph.values[phase]
    ax.set_xticks(x, ph.labels, fontsize=8)
    ax.set(ylabel="mean ms per request", title="Server phase breakdown per stage")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


PLOTS: Final[dict[str, Callable[[Summary, RunData], Figure]]] = {
    "degradation": degradation_figure,
    "timeline": timeline_figure,
    "resources": resources_figure,
    "distributions": distributions_figure,
    "phases": phases_figure,
}
"""Each report figure by its name in ``plots/<name>.png``."""


def render_plots(summary: Summary, run: RunData, out_dir: Path) -> dict[str, bytes]:
    """Write ``plots/<name>.png`` and return the PNG bytes by name (for embedding)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images = {}
    for name, build in PLOTS.items():
        png = _png(build(summary, run))
        (out_dir / f"{name}.png").write_bytes(png)
        images[name] = png
    return images
