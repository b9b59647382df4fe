"""Report figures as PNG bytes (matplotlib's object API on the Agg canvas, no pyplot state)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from qi_load.analyze.load import RunData
from qi_load.analyze.stages import PHASES, StageStats
from qi_load.analyze.summary import Summary

__all__ = ["PLOTS", "render_plots"]

_MB: Final = 1024.0 * 1024.0
_MAX_BINS: Final = 600
_PHASE_COLORS: Final = {
    "request": "#8da0cb",
    "tool": "#66c2a5",
    "llm": "#fc8d62",
    "format": "#e78ac3",
}


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_xticks([])
    ax.set_yticks([])


def degradation_png(summary: Summary, run: RunData) -> bytes:
    """Latency percentiles, throughput (with the ideal line) and error rate against users."""
    deg = summary["degradation"]
    pts = deg["points"]
    fig = Figure(figsize=(13, 4), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    if not pts:
        for ax in (ax1, ax2, ax3):
            _empty(ax, "no stages")
        return _png(fig)
    users = np.array([p["users"] for p in pts], dtype=float)
    valid = np.array([p["valid"] for p in pts])

    def col(key: str) -> np.ndarray:
        return np.array([np.nan if p[key] is None else p[key] for p in pts], dtype=float)  # type: ignore[literal-required]

    for key, label in (
        ("e2e_p50_ms", "E2E p50"),
        ("e2e_p95_ms", "E2E p95"),
        ("e2e_p99_ms", "E2E p99"),
        ("ttft_p95_ms", "TTFT p95"),
    ):
        ax1.plot(users, col(key), marker="o", label=label)
    ax1.set(title="Latency vs users", xlabel="users", ylabel="ms")
    ax2.plot(users, col("throughput_rps"), marker="o", label="throughput")
    ax2.plot(users, col("goodput_rps"), marker="s", label="goodput")
    if deg["per_user_rps"]:
        ax2.plot(users, users * deg["per_user_rps"], "--", color="#999", label="ideal (linear)")
    ax2.set(title="Throughput vs users", xlabel="users", ylabel="req/s")
    ax3.plot(users, col("error_rate") * 100.0, marker="o", color="#d62728")
    ax3.set(title="Error rate vs users", xlabel="users", ylabel="%")
    knee = deg["knee"]["users"]
    for ax in (ax1, ax2, ax3):
        if knee is not None:
            ax.axvline(knee, color="#d62728", linestyle=":", label=f"knee ({knee} users)")
        if (~valid).any():
            ax.scatter(users[~valid], np.zeros((~valid).sum()), marker="x", color="k",
                       label="invalid stage", zorder=5)  # fmt: skip
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    return _png(fig)


def _bands(ax: Axes, stages: Sequence[StageStats], t0: float) -> None:
    for i, s in enumerate(stages):
        color = "#f4cccc" if s["invalid"] else ("#eeeeee" if i % 2 else "#ffffff")
        ax.axvspan(s["start"] - t0, s["end"] - t0, color=color, alpha=0.6, lw=0)
        ax.axvspan(s["window_start"] - t0, s["window_end"] - t0, color="#cfe2f3", alpha=0.25, lw=0)
        middle = (s["start"] + s["end"]) / 2 - t0
        ax.text(middle, 0.98, s["name"], transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=7, color="#555")  # fmt: skip


def _origin(summary: Summary, run: RunData) -> float:
    if summary["stages"]:
        return summary["stages"][0]["start"]
    if not run.requests.empty:
        return float(run.requests["ts_start"].min())
    return float(run.samples["ts"].min()) if not run.samples.empty else 0.0


def timeline_png(summary: Summary, run: RunData) -> bytes:
    """E2E/TTFT percentiles and throughput over time, binned, with stage bands."""
    fig = Figure(figsize=(13, 6), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    req = run.requests
    if req.empty:
        _empty(ax1, "no requests")
        _empty(ax2, "no requests")
        return _png(fig)
    t0 = _origin(summary, run)
    t = req["ts_end"].to_numpy(np.float64) - t0
    span = max(float(np.nanmax(t)) - min(0.0, float(np.nanmin(t))), 1.0)
    width = max(2.0, float(np.ceil(span / _MAX_BINS)))
    bins = np.floor(t / width)
    ok = req["ok"].to_numpy(bool)
    frame = pd.DataFrame({"bin": bins[ok], "e2e": req["e2e_ms"].to_numpy()[ok],
                          "ttft": req["ttft_ms"].to_numpy()[ok]})  # fmt: skip
    grouped = frame.groupby("bin")
    q = grouped[["e2e", "ttft"]].quantile(np.array([0.5, 0.95])).unstack()
    x = q.index.to_numpy() * width + width / 2
    for (metric, quant), style in (
        (("e2e", 0.5), "-"),
        (("e2e", 0.95), "-"),
        (("ttft", 0.95), "--"),
    ):
        ax1.plot(
            x,
            q[(metric, quant)].to_numpy(),
            style,
            lw=1,
            label=f"{metric.upper()} p{int(quant * 100)}",
        )
    ax1.set(ylabel="ms", title=f"Latency over time ({width:g} s bins)")
    ax1.legend(fontsize=8, loc="upper left")
    counts = pd.Series(bins[ok]).value_counts().sort_index()
    errors = pd.Series(bins[~ok]).value_counts().sort_index()
    ax2.plot(
        counts.index.to_numpy() * width + width / 2, counts.to_numpy() / width, lw=1, label="ok"
    )
    if not errors.empty:
        ax2.plot(errors.index.to_numpy() * width + width / 2, errors.to_numpy() / width, lw=1,
                 color="#d62728", label="failed")  # fmt: skip
    ax2.set(ylabel="req/s", xlabel="seconds since start", title="Throughput over time")
    ax2.legend(fontsize=8, loc="upper left")
    for ax in (ax1, ax2):
        _bands(ax, summary["stages"], t0)
        ax.grid(alpha=0.3)
    return _png(fig)


def resources_png(summary: Summary, run: RunData) -> bytes:
    """CPU and RSS over time, one line per process, coloured by role."""
    fig = Figure(figsize=(13, 6), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    s = run.samples
    if s.empty:
        _empty(ax1, "no host samples")
        _empty(ax2, "no host samples")
        return _png(fig)
    t0 = _origin(summary, run)
    span = max(float(s["ts"].max() - s["ts"].min()), 1.0)
    width = max(1.0, float(np.ceil(span / _MAX_BINS)))
    frame = s.assign(bin=np.floor((s["ts"] - t0) / width))
    for (role, host, pid), part in frame.groupby(["role", "host", "pid"], observed=True):
        binned = part.groupby("bin")[["cpu_percent", "rss_bytes"]].mean()
        x = binned.index.to_numpy() * width
        label = f"{role} {host}/{pid}"
        ax1.plot(x, binned["cpu_percent"].to_numpy(), lw=1, label=label)
        ax2.plot(x, binned["rss_bytes"].to_numpy() / _MB, lw=1, label=label)
    ax1.set(ylabel="CPU % (100 = one core)", title="CPU per process")
    ax2.set(ylabel="RSS MB", xlabel="seconds since start", title="Memory (RSS) per process")
    for ax in (ax1, ax2):
        _bands(ax, summary["stages"], t0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", ncol=3)
    return _png(fig)


def distributions_png(summary: Summary, run: RunData) -> bytes:
    """E2E and TTFT distributions per query type (valid windows, successful requests)."""
    del summary
    fig = Figure(figsize=(13, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    req = run.requests[run.requests["ok"]]
    if req.empty:
        _empty(ax1, "no successful requests")
        _empty(ax2, "no successful requests")
        return _png(fig)
    for ax, column, title in ((ax1, "e2e_ms", "E2E"), (ax2, "ttft_ms", "TTFT")):
        values = req[column].to_numpy(np.float64)
        finite = values[np.isfinite(values) & (values > 0)]
        if finite.size == 0:
            _empty(ax, f"no {title}")
            continue
        edges = np.geomspace(max(finite.min(), 0.1), finite.max() * 1.01, 60)
        for qt, part in req.groupby("query_type", observed=True):
            v = part[column].to_numpy(np.float64)
            counts, _ = np.histogram(v[np.isfinite(v)], bins=edges)
            ax.stairs(counts, edges, label=f"{qt} (n={int(np.isfinite(v).sum())})")
        ax.set_xscale("log")
        ax.set(title=f"{title} distribution per query type", xlabel="ms (log)", ylabel="requests")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return _png(fig)


def phases_png(summary: Summary, run: RunData) -> bytes:
    """Mean server phases (request / tool / LLM / format) per stage, stacked."""
    del run
    fig = Figure(figsize=(13, 4), layout="constrained")
    ax = fig.subplots()
    stages = [s for s in summary["stages"] if s["overall"]["phases_ms"]]
    if not stages:
        _empty(ax, "the server reported no phase timings")
        return _png(fig)
    x = np.arange(len(stages))
    bottom = np.zeros(len(stages))
    for phase in PHASES:
        values = np.array([(s["overall"]["phases_ms"] or {}).get(phase, 0.0) for s in stages])
        ax.bar(x, values, bottom=bottom, label=phase, color=_PHASE_COLORS[phase])
        bottom += values
    ax.set_xticks(x, [f"{s['name']}\n{s['users']} users" for s in stages], fontsize=8)
    ax.set(ylabel="mean ms per request", title="Server phase breakdown per stage")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


PLOTS: Final[dict[str, Callable[[Summary, RunData], bytes]]] = {
    "degradation": degradation_png,
    "timeline": timeline_png,
    "resources": resources_png,
    "distributions": distributions_png,
    "phases": phases_png,
}


def render_plots(summary: Summary, run: RunData, out_dir: Path) -> dict[str, bytes]:
    """Write ``plots/<name>.png`` and return the PNG bytes by name (for embedding)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images = {}
    for name, draw in PLOTS.items():
        png = draw(summary, run)
        (out_dir / f"{name}.png").write_bytes(png)
        images[name] = png
    return images
