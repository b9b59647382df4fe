"""Memory leaks judged under constant load: Theil-Sen slopes of RSS within steady windows."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final, Literal, TypedDict

import numpy as np
import numpy.typing as npt

from qi_load.analyze.load import RunData
from qi_load.analyze.stages import stage_windows
from qi_load.units import MB
from qi_load.vocabulary import Side, side_of

__all__ = [
    "GrowthPattern",
    "LeakFit",
    "LeakSettings",
    "LeakStatus",
    "RssTrend",
    "classify_rss",
    "leak_fits",
    "leaks_of",
    "theil_sen",
]

_MAX_POINTS: Final = 300

LeakStatus = Literal["leak", "growth", "none", "insufficient_data"]
GrowthPattern = Literal["persistent", "levels_off", "follows_users", "intermittent", ""]
"""How RSS grew: on through every constant-load window (a leak when fast enough), up then
flat (a bounded cache or pool), stepping with the user count, or in some windows only."""


@dataclass(frozen=True)
class LeakSettings:
    """Thresholds from the methodology; see docs/analysis.md."""

    high_mb_per_min: float = 1.0
    """Growth whose CI lies above this, and that persists, is a high-severity leak."""
    level: float = 0.95
    min_samples: int = 10
    min_span_s: float = 30.0
    follow_min_mb: float = 2.0
    """RSS 'follows the user count' when the windows' levels rise by at least this ..."""
    follow_min_corr: float = 0.8
    """... and correlate with the users at least this much."""
    window_min_samples: int = 5
    """A window with fewer samples is not asked whether it grew too."""


class RssTrend(TypedDict):
    """How one process's RSS moved after warm-up, as ``classify_rss`` judges it."""

    n: int
    span_min: float
    slope_mb_per_min: float | None
    ci_low: float | None
    ci_high: float | None
    late_slope_mb_per_min: float | None
    """The slope over the second half of every window: where bounded growth has stopped."""
    rss_start_mb: float | None
    rss_end_mb: float | None
    plateau_mb: float | None
    """Where RSS levelled off (median of the last window's second half)."""
    pattern: GrowthPattern
    status: LeakStatus
    detail: str


class LeakFit(RssTrend):
    """The RSS trend of one process after warm-up."""

    side: Side
    """``agent`` (the system under test) or ``qi-load`` (its own master, workers, local
    process): a load generator's growth is never reported as the agent's."""
    host: str
    role: str
    pid: int


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


def _users(run: RunData) -> dict[int, int]:
    """Users of each group of ``_strata`` (none without stages: one window)."""
    windows = stage_windows(run) if run.stages else []
    return {k: w.users for k, w in enumerate(windows)}


def leak_fits(run: RunData, settings: LeakSettings | None = None) -> list[LeakFit]:
    """One fit per process (host, role, pid), using samples after the scenario's warm-up."""
    settings = settings or LeakSettings()
    samples = run.samples
    if samples.empty:
        return []
    start = run.manifest.start
    t_first = start if start is not None else float(samples["ts"].min())
    warmup = run.scenario.get("warmup_s")
    t_min = t_first + (float(warmup) if isinstance(warmup, int | float) else 0.0)
    users = _users(run)
    fits = []
    for (host, role, pid), part in samples.groupby(["host", "role", "pid"], observed=True):
        ts = part["ts"].to_numpy(dtype=np.float64)
        rss = part["rss_bytes"].to_numpy(dtype=np.float64) / MB
        groups = _strata(run, ts, t_min)
        used = groups >= 0
        fit = LeakFit(
            side=side_of(str(role)),
            host=str(host),
            role=str(role),
            pid=int(str(pid)),
            **classify_rss(ts[used], rss[used], groups[used], users, settings),
        )
        fits.append(fit)
    return sorted(fits, key=lambda f: (f["side"], f["role"], f["host"], f["pid"]))


def leaks_of(fits: Sequence[LeakFit], side: Side) -> list[LeakFit]:
    """The fits of one side whose status is ``leak``."""
    return [f for f in fits if f["side"] == side and f["status"] == "leak"]


def _per_min(
    ts: npt.NDArray[np.float64],
    rss: npt.NDArray[np.float64],
    groups: npt.NDArray[np.int64],
    level: float,
) -> tuple[float, float, float]:
    slope, lo, hi = theil_sen(ts, rss, groups, level)
    return slope * 60.0, lo * 60.0, hi * 60.0


def classify_rss(
    ts: npt.ArrayLike,
    rss_mb: npt.ArrayLike,
    groups: npt.ArrayLike,
    users: Mapping[int, int] | None = None,
    settings: LeakSettings | None = None,
) -> RssTrend:
    """Judge one process's RSS (MB) at times ``ts`` (s), grouped by constant-load window.

    A leak grows under constant load and keeps growing: the slope within windows is
    confidently above ``high_mb_per_min``; over the second half of the windows it is still
    confidently positive and at least half as steep, and so is every window on its own.
    Growth that stops (a bounded cache, a pool filled) or that steps with the user count
    ``users[group]`` is growth, reported with where it levelled off; growth in some windows
    only is growth too.
    """
    settings = settings or LeakSettings()
    t = np.asarray(ts, dtype=np.float64)
    y = np.asarray(rss_mb, dtype=np.float64)
    g = np.asarray(groups, dtype=np.int64)
    span = float(t.max() - t.min()) if t.size else 0.0
    trend = RssTrend(
        n=int(t.size),
        span_min=span / 60.0,
        slope_mb_per_min=None,
        ci_low=None,
        ci_high=None,
        late_slope_mb_per_min=None,
        rss_start_mb=float(y[0]) if y.size else None,
        rss_end_mb=float(y[-1]) if y.size else None,
        plateau_mb=None,
        pattern="",
        status="insufficient_data",
        detail="",
    )
    if t.size < settings.min_samples or span < settings.min_span_s:
        trend["detail"] = (
            f"{t.size} samples over {span:.0f} s after warm-up (need "
            f"{settings.min_samples} over {settings.min_span_s:g} s)"
        )
        return trend
    slope, lo, hi = _per_min(t, y, g, settings.level)
    if math.isnan(slope):
        trend["detail"] = "no pairs of samples inside one steady window"
        return trend
    late = _late_halves(t, g)
    tail = late & (g == g[np.argmax(t)])
    late_slope, late_lo, _ = _per_min(t[late], y[late], g[late], settings.level)
    tail_slope, tail_lo, _ = _per_min(t[tail], y[tail], g[tail], settings.level)
    trend["slope_mb_per_min"], trend["ci_low"], trend["ci_high"] = slope, lo, hi
    trend["late_slope_mb_per_min"] = None if math.isnan(late_slope) else late_slope
    trend["plateau_mb"] = float(np.median(y[tail])) if tail.any() else None
    ci = f"{slope:+.3f} MB/min ({settings.level:.0%} CI {lo:+.3f} … {hi:+.3f})"
    # NaN compares false: too few late pairs is no evidence of persistence.
    persists = (
        late_lo > 0
        and late_slope >= slope / 2.0
        and _grows_in_every_window(t, y, g, slope / 60.0 / 2.0, settings)
    )
    follows = _follows_users(y, g, users or {}, settings)
    if lo > 0 and persists:
        trend["pattern"] = "persistent"
        trend["plateau_mb"] = None
        if lo > settings.high_mb_per_min:
            trend["status"] = "leak"
            trend["detail"] = (
                f"{ci}, still {late_slope:+.3f} MB/min late in every window: grows under "
                f"constant load, above {settings.high_mb_per_min:g} MB/min, high severity"
            )
            return trend
        trend["status"] = "growth"
        trend["detail"] = (
            f"{ci}: growing under constant load, not confidently above the "
            f"{settings.high_mb_per_min:g} MB/min leak level"
        )
        return trend
    if follows is not None:
        trend["status"], trend["pattern"] = "growth", "follows_users"
        trend["plateau_mb"] = follows[3]
        trend["detail"] = (
            f"RSS follows the user count ({follows[0]:.0f} MB at {follows[1]} users → "
            f"{follows[3]:.0f} MB at {follows[2]} users), {ci} within windows and not "
            "persisting: not a leak"
        )
        return trend
    # Still growing at the end at half the pace or more (NaN: too few samples to tell).
    if lo > 0 and tail_lo > max(slope / 2.0, 0.0):
        trend["status"], trend["pattern"] = "growth", "intermittent"
        trend["plateau_mb"] = None
        trend["detail"] = (
            f"{ci}, growing in some constant-load windows only, still at the end: "
            "not a leak yet; a longer constant load tells"
        )
        return trend
    if lo > 0:
        trend["status"], trend["pattern"] = "growth", "levels_off"
        plateau = trend["plateau_mb"]
        where = f" at {plateau:.0f} MB" if plateau is not None else ""
        trend["detail"] = (
            f"{ci}, then levels off{where} ({tail_slope:+.3f} MB/min at the end): "
            "bounded growth such as a cache or a pool, not a leak"
        )
        return trend
    trend["status"] = "none"
    trend["detail"] = f"{ci}: the interval includes zero"
    return trend


def _grows_in_every_window(
    t: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    g: npt.NDArray[np.int64],
    at_least: float,
    settings: LeakSettings,
) -> bool:
    """Each window with enough samples has a slope of its own of ``at_least`` (per second)."""
    for group in np.unique(g):
        idx = g == group
        if int(idx.sum()) >= settings.window_min_samples:
            slope = theil_sen(t[idx], y[idx], level=settings.level)[0]
            if not slope >= at_least:
                return False
    return True


def _late_halves(t: npt.NDArray[np.float64], g: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Samples in the second half (by time) of their window."""
    late = np.zeros(t.size, dtype=bool)
    for group in np.unique(g):
        idx = g == group
        lo, hi = t[idx].min(), t[idx].max()
        late |= idx & (t >= (lo + hi) / 2.0)
    return late


def _follows_users(
    y: npt.NDArray[np.float64],
    g: npt.NDArray[np.int64],
    users: Mapping[int, int],
    settings: LeakSettings,
) -> tuple[float, int, int, float] | None:
    """(level, users) at the fewest and the most users when the windows' median RSS rises
    with the user count; ``None`` when it does not."""
    levels = [(users[k], float(np.median(y[g == k]))) for k in np.unique(g).tolist() if k in users]
    if len({u for u, _ in levels}) < 2:
        return None
    u = np.array([lv[0] for lv in levels], dtype=np.float64)
    v = np.array([lv[1] for lv in levels], dtype=np.float64)
    low, high = int(np.argmin(u)), int(np.argmax(u))
    if v[high] - v[low] < settings.follow_min_mb or np.std(v) == 0:
        return None
    if float(np.corrcoef(u, v)[0, 1]) < settings.follow_min_corr:
        return None
    return v[low], int(u[low]), int(u[high]), v[high]
