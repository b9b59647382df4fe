"""Memory-leak detection: a robust Theil-Sen slope of RSS over time per process, with a CI."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final, Literal, TypedDict

import numpy as np
import numpy.typing as npt

from qi_load.analyze.load import RunData
from qi_load.analyze.stages import stage_windows

__all__ = ["LeakFit", "LeakSettings", "LeakStatus", "leak_fits", "theil_sen"]

_MB: Final = 1024.0 * 1024.0
_MAX_POINTS: Final = 300

LeakStatus = Literal["leak", "growth", "none", "insufficient_data"]


@dataclass(frozen=True)
class LeakSettings:
    """Thresholds from the methodology; see docs/analysis.md."""

    high_mb_per_min: float = 1.0
    """Growth whose CI lies above this is a high-severity leak."""
    level: float = 0.95
    min_samples: int = 10
    min_span_s: float = 30.0


class LeakFit(TypedDict):
    """The RSS trend of one process after warm-up."""

    host: str
    role: str
    pid: int
    n: int
    span_min: float
    slope_mb_per_min: float | None
    ci_low: float | None
    ci_high: float | None
    rss_start_mb: float | None
    rss_end_mb: float | None
    status: LeakStatus
    detail: str


def theil_sen(
    t: npt.ArrayLike, y: npt.ArrayLike, groups: npt.ArrayLike | None = None, level: float = 0.95
) -> tuple[float, float, float]:
    """Median of pairwise slopes within each group, with Sen's rank-based CI.

    Pairs never cross groups, so level shifts between groups (a stage with more users holds
    more buffers) do not read as a trend; only growth within groups does. Returns
    ``(slope, low, high)`` in y-units per t-unit (NaN without pairs).
    """
    tt, yy = np.asarray(t, dtype=np.float64), np.asarray(y, dtype=np.float64)
    gg = np.zeros(tt.size, dtype=np.int64) if groups is None else np.asarray(groups)
    slopes: list[npt.NDArray[np.float64]] = []
    variance = 0.0
    for g in np.unique(gg):
        idx = np.flatnonzero(gg == g)
        if idx.size > _MAX_POINTS:
            idx = idx[np.linspace(0, idx.size - 1, _MAX_POINTS).astype(np.int64)]
        n = idx.size
        if n < 2:
            continue
        i, j = np.triu_indices(n, k=1)
        dt = tt[idx][j] - tt[idx][i]
        keep = dt > 0
        slopes.append((yy[idx][j][keep] - yy[idx][i][keep]) / dt[keep])
        variance += n * (n - 1) * (2 * n + 5) / 18.0
    if not slopes:
        return math.nan, math.nan, math.nan
    all_slopes = np.sort(np.concatenate(slopes))
    total = all_slopes.size
    if total == 0:
        return math.nan, math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    c = z * math.sqrt(variance)
    lo_rank = max(math.floor((total - c) / 2.0) - 1, 0)
    hi_rank = min(math.ceil((total + c) / 2.0), total - 1)
    return float(np.median(all_slopes)), float(all_slopes[lo_rank]), float(all_slopes[hi_rank])


def _strata(run: RunData, ts: npt.NDArray[np.float64], t_min: float) -> npt.NDArray[np.int64]:
    """Group of each sample: its stage's steady window (-1 = outside every window)."""
    groups = np.full(ts.size, -1, dtype=np.int64)
    windows = stage_windows(run) if run.stages else []
    if not windows:
        groups[ts >= t_min] = 0
        return groups
    for k, w in enumerate(windows):
        groups[(ts >= max(w.t0, t_min)) & (ts < w.t1)] = k
    return groups


def leak_fits(run: RunData, settings: LeakSettings | None = None) -> list[LeakFit]:
    """One fit per process (host, role, pid), using samples after the scenario's warm-up."""
    settings = settings or LeakSettings()
    samples = run.samples
    if samples.empty:
        return []
    start = run.manifest.get("start")
    t_first = float(start) if isinstance(start, int | float) else float(samples["ts"].min())
    warmup = run.scenario.get("warmup_s")
    t_min = t_first + (float(warmup) if isinstance(warmup, int | float) else 0.0)
    fits = []
    for (host, role, pid), part in samples.groupby(["host", "role", "pid"], observed=True):
        ts = part["ts"].to_numpy(dtype=np.float64)
        rss = part["rss_bytes"].to_numpy(dtype=np.float64) / _MB
        groups = _strata(run, ts, t_min)
        used = groups >= 0
        fits.append(
            _fit(str(host), str(role), int(str(pid)), ts[used], rss[used], groups[used], settings)
        )
    return sorted(fits, key=lambda f: (f["role"], f["host"], f["pid"]))


def _fit(
    host: str,
    role: str,
    pid: int,
    ts: npt.NDArray[np.float64],
    rss: npt.NDArray[np.float64],
    groups: npt.NDArray[np.int64],
    settings: LeakSettings,
) -> LeakFit:
    span = float(ts.max() - ts.min()) if ts.size else 0.0
    fit = LeakFit(
        host=host,
        role=role,
        pid=pid,
        n=int(ts.size),
        span_min=span / 60.0,
        slope_mb_per_min=None,
        ci_low=None,
        ci_high=None,
        rss_start_mb=float(rss[0]) if rss.size else None,
        rss_end_mb=float(rss[-1]) if rss.size else None,
        status="insufficient_data",
        detail="",
    )
    if ts.size < settings.min_samples or span < settings.min_span_s:
        fit["detail"] = (
            f"{ts.size} samples over {span:.0f} s after warm-up (need "
            f"{settings.min_samples} over {settings.min_span_s:g} s)"
        )
        return fit
    slope, lo, hi = (v * 60.0 for v in theil_sen(ts, rss, groups, settings.level))
    if math.isnan(slope):
        fit["detail"] = "no pairs of samples inside one steady window"
        return fit
    fit["slope_mb_per_min"], fit["ci_low"], fit["ci_high"] = slope, lo, hi
    ci = f"{slope:+.3f} MB/min ({settings.level:.0%} CI {lo:+.3f} … {hi:+.3f})"
    # Confidently above the threshold, not merely above it: a short run's early heap growth
    # (first requests, more connections) reads as ~0.5-1 MB/min with a wide interval.
    if lo > settings.high_mb_per_min:
        fit["status"] = "leak"
        fit["detail"] = f"{ci}: above {settings.high_mb_per_min:g} MB/min, high severity"
    elif lo > 0:
        fit["status"] = "growth"
        fit["detail"] = (
            f"{ci}: growing, not confidently above the {settings.high_mb_per_min:g} MB/min "
            "leak level"
        )
    else:
        fit["status"] = "none"
        fit["detail"] = f"{ci}: the interval includes zero"
    return fit
