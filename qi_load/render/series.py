"""What each report figure plots, as plain arrays: pure functions of the summary and the run.

Every function here is total over any run directory ``load_run`` accepts (no request, no
success, no sample, no stage): an empty series is an empty array, and ``note`` says why a
panel has nothing to show. The drawing (qi_load.render.plots) then never meets a shape
it cannot draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from qi_load.analyze.load import RunData
from qi_load.analyze.stages import PHASES, StageStats
from qi_load.analyze.summary import Summary
from qi_load.metrics.percentile import percentile
from qi_load.units import MB

__all__ = [
    "NO_REQUESTS",
    "NO_SUCCESS",
    "Curves",
    "Distribution",
    "Histogram",
    "Phases",
    "ProcessTrace",
    "SloLine",
    "Timeline",
    "curves",
    "distributions",
    "origin",
    "phases",
    "resources",
    "slo_lines",
    "stage_note",
    "timeline",
]

FloatArray = npt.NDArray[np.float64]
MAX_BINS: Final = 600
NO_REQUESTS: Final = "no requests in this stage"
NO_SUCCESS: Final = "no successful requests in this stage"


def _floats(values: Sequence[float | None]) -> FloatArray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def stage_note(stage: StageStats) -> str:
    """Why a stage's latency figures are empty (``""`` when they are not)."""
    if stage["overall"]["n"] == 0:
        return NO_REQUESTS
    if stage["overall"]["e2e_ms"]["n"] == 0:
        return NO_SUCCESS
    return ""


def origin(summary: Summary, run: RunData) -> float:
    """t = 0 of the time axes: the test's start (the plan's t = 0, warm-up included, as in
    the progress line), else the first stage's start, else the first request or sample."""
    m = run.manifest
    for start in (m.test_start, m.start):
        if start is not None:
            return float(start)
    if summary["stages"]:
        return summary["stages"][0]["start"]
    starts = run.requests["ts_start"].to_numpy(np.float64)
    if np.isfinite(starts).any():
        return float(np.nanmin(starts))
    return float(run.samples["ts"].min()) if not run.samples.empty else 0.0


@dataclass(frozen=True)
class SloLine:
    """One latency SLO limit shared by some query types, for a horizontal line."""

    metric: str
    """``e2e_p95_ms`` or ``ttft_p95_ms``."""
    limit_ms: float
    types: tuple[str, ...]

    @property
    def label(self) -> str:
        what = "E2E" if self.metric == "e2e_p95_ms" else "TTFT"
        return f"SLO {what} p95 {self.limit_ms:g} ms ({', '.join(self.types)})"


def slo_lines(
    run: RunData, metrics: Sequence[str] = ("e2e_p95_ms", "ttft_p95_ms")
) -> list[SloLine]:
    """The scenario's latency SLO limits of the query types the run sent, one per value."""
    slos = run.scenario.get("slos")
    sent = {str(t) for t in run.requests["query_type"].dropna().unique()}  # by code, no copy
    if not isinstance(slos, dict):
        return []
    by_limit: dict[tuple[str, float], list[str]] = {}
    for qt, entry in slos.items():
        if qt not in sent or not isinstance(entry, dict):
            continue
        for metric in metrics:
            limit = entry.get(metric)
            if isinstance(limit, int | float) and not isinstance(limit, bool):
                by_limit.setdefault((metric, float(limit)), []).append(str(qt))
    return [SloLine(m, v, tuple(types)) for (m, v), types in sorted(by_limit.items())]


@dataclass(frozen=True)
class Curves:
    """The degradation curves: one point per stage, by users."""

    users: FloatArray
    valid: npt.NDArray[np.bool_]
    columns: dict[str, FloatArray]
    knee: int | None
    per_user_rps: float | None
    note: str
    """Why the latency panel is empty (``""`` when it is not)."""


def curves(summary: Summary) -> Curves:
    deg = summary["degradation"]
    pts = deg["points"]
    keys = ("e2e_p50_ms", "e2e_p95_ms", "e2e_p99_ms", "ttft_p95_ms",
            "throughput_rps", "goodput_rps", "error_rate")  # fmt: skip
    # The latency keys come first: the note below looks at them.
    columns = {k: _floats([p[k] for p in pts]) for k in keys}  # type: ignore[literal-required]
    latency = np.concatenate([columns[k] for k in keys[:4]])
    return Curves(
        users=_floats([p["users"] for p in pts]),
        valid=np.array([p["valid"] for p in pts], dtype=bool),
        columns=columns,
        knee=deg["knee"]["users"],
        per_user_rps=deg["per_user_rps"],
        note="" if np.isfinite(latency).any() else "no successful requests in any stage",
    )


@dataclass(frozen=True)
class Timeline:
    """Requests binned by the time they ended (seconds since ``t0``)."""

    t0: float
    width: float
    x: FloatArray
    """Centres of the bins holding successful requests, for the latency series."""
    latency: dict[str, FloatArray]
    """``E2E p50``, ``E2E p95``, ``TTFT p95`` per bin of ``x`` (NaN: none measured)."""
    ok_x: FloatArray
    ok_rate: FloatArray
    failed_x: FloatArray
    failed_rate: FloatArray


def _rate(bins: FloatArray, span: FloatArray, width: float) -> tuple[FloatArray, FloatArray]:
    """Requests per second of every bin from the first to the last of ``span``: a bin
    without requests is a rate of 0, not a gap the line would bridge."""
    if not span.size:
        return np.zeros(0), np.zeros(0)
    first, last = int(span.min()), int(span.max())
    counts = np.bincount((bins - first).astype(np.int64), minlength=last - first + 1)
    x = (np.arange(first, last + 1, dtype=np.float64)) * width + width / 2
    return x, counts[: last - first + 1].astype(np.float64) / width


def _quantile(values: FloatArray, q: float) -> float:
    value = percentile(values, q)
    return float("nan") if value is None else value


def timeline(summary: Summary, run: RunData) -> Timeline | None:
    """``None`` when no request has a known end."""
    req = run.requests
    t0 = origin(summary, run)
    t = req["ts_end"].to_numpy(np.float64) - t0
    known = np.isfinite(t)
    if not known.any():
        return None
    span = max(float(t[known].max()) - min(0.0, float(t[known].min())), 1.0)
    width = max(2.0, float(np.ceil(span / MAX_BINS)))
    bins = np.floor(t[known] / width)
    ok = req["ok"].to_numpy(bool)[known]
    # Successful requests sorted by bin, then split where the bin changes: one group per bin.
    # Bins are small integers: as int16 the stable sort is a radix sort, O(n).
    order = np.argsort(bins[ok].astype(np.int16), kind="stable")
    ok_bins = bins[ok][order]
    cuts = np.flatnonzero(np.diff(ok_bins)) + 1
    centres = ok_bins[np.concatenate([[0], cuts])] if ok_bins.size else ok_bins
    e2e = np.split(req["e2e_ms"].to_numpy(np.float64)[known][ok][order], cuts)
    ttft = np.split(req["ttft_ms"].to_numpy(np.float64)[known][ok][order], cuts)
    latency = {
        "E2E p50": np.array([_quantile(g, 50) for g in e2e], dtype=np.float64),
        "E2E p95": np.array([_quantile(g, 95) for g in e2e], dtype=np.float64),
        "TTFT p95": np.array([_quantile(g, 95) for g in ttft], dtype=np.float64),
    }
    if not ok_bins.size:  # np.split of nothing still yields one (empty) group
        latency = {k: np.zeros(0) for k in latency}
    ok_x, ok_rate = _rate(bins[ok], bins, width)
    failed_x, failed_rate = _rate(bins[~ok], bins, width) if (~ok).any() else (ok_x[:0], ok_x[:0])
    return Timeline(
        t0=t0,
        width=width,
        x=centres * width + width / 2,
        latency=latency,
        ok_x=ok_x,
        ok_rate=ok_rate,
        failed_x=failed_x,
        failed_rate=failed_rate,
    )


@dataclass(frozen=True)
class ProcessTrace:
    label: str
    x: FloatArray
    cpu_percent: FloatArray
    rss_mb: FloatArray


def resources(summary: Summary, run: RunData) -> list[ProcessTrace]:
    """CPU and RSS of every sampled process, binned (empty without samples)."""
    s = run.samples
    if s.empty:
        return []
    t0 = origin(summary, run)
    span = max(float(s["ts"].max() - s["ts"].min()), 1.0)
    width = max(1.0, float(np.ceil(span / MAX_BINS)))
    frame = s.assign(bin=np.floor((s["ts"] - t0) / width))
    traces = []
    for (role, host, pid), part in frame.groupby(["role", "host", "pid"], observed=True):
        binned = part.groupby("bin")[["cpu_percent", "rss_bytes"]].mean()
        traces.append(
            ProcessTrace(
                label=f"{role} {host}/{pid}",
                x=binned.index.to_numpy(np.float64) * width,
                cpu_percent=binned["cpu_percent"].to_numpy(np.float64),
                rss_mb=binned["rss_bytes"].to_numpy(np.float64) / MB,
            )
        )
    return traces


@dataclass(frozen=True)
class Histogram:
    label: str
    counts: npt.NDArray[np.int64]
    query_type: str = ""


@dataclass(frozen=True)
class Distribution:
    """One latency's histogram per query type on shared log-spaced edges."""

    title: str
    edges: FloatArray
    histograms: list[Histogram]
    note: str
    """Why there is nothing to draw (``""`` when there is)."""


def _distribution(ok: pd.DataFrame, column: str, title: str) -> Distribution:
    values = ok[column].to_numpy(np.float64)
    finite = values[np.isfinite(values) & (values > 0)]
    if finite.size == 0:
        note = "no successful requests" if ok.empty else f"no {title} measured"
        return Distribution(title, np.zeros(0), [], note)
    # A log axis needs positive, increasing edges: one value alone gets a decade around it.
    low = max(float(finite.min()), 0.1)
    high = max(float(finite.max()) * 1.01, low * 10.0 if finite.min() == finite.max() else 0.0)
    edges = np.geomspace(low, max(high, low * 1.01), 60)
    hists = []
    for qt, part in ok.groupby("query_type", observed=True):
        v = part[column].to_numpy(np.float64)
        v = v[np.isfinite(v)]
        if v.size:
            hists.append(Histogram(f"{qt} (n={v.size})", np.histogram(v, bins=edges)[0], str(qt)))
    return Distribution(title, edges, hists, "")


def distributions(run: RunData) -> list[Distribution]:
    """E2E and TTFT of the successful requests, per query type."""
    ok = run.requests.loc[run.requests["ok"], ["query_type", "e2e_ms", "ttft_ms"]]  # not all
    return [_distribution(ok, "e2e_ms", "E2E"), _distribution(ok, "ttft_ms", "TTFT")]


@dataclass(frozen=True)
class Phases:
    """Mean server phase per stage, for the stages whose requests reported phases."""

    labels: list[str]
    values: dict[str, FloatArray]


def phases(summary: Summary) -> Phases:
    stages = [s for s in summary["stages"] if s["overall"]["phases_ms"]]
    return Phases(
        labels=[f"{s['name']}\n{s['users']} users" for s in stages],
        values={
            p: np.array([(s["overall"]["phases_ms"] or {}).get(p, 0.0) for s in stages])
            for p in PHASES
        },
    )
