"""Regression detection between two runs, guarded by bootstrap CIs and a minimum sample count."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypedDict

import numpy as np
import numpy.typing as npt

from qi_load.analyze.bootstrap import bootstrap_ci
from qi_load.analyze.load import RunData
from qi_load.analyze.stages import error_kinds, stage_windows, valid_mask
from qi_load.metrics.percentile import percentile
from qi_load.metrics.rates import failed, per_second
from qi_load.metrics.window import ends_in
from qi_load.units import MB
from qi_load.vocabulary import TARGET_ROLES

__all__ = [
    "REQUEST_METHOD",
    "CompareRow",
    "CompareSettings",
    "Comparison",
    "Severity",
    "ci_label",
    "compare_runs",
    "comparison_of",
    "severity_of",
    "worst_of",
]

Severity = Literal["critical", "warning", "inconclusive", "ok", "improved", "insufficient_data"]
FloatArray = npt.NDArray[np.float64]
_ERROR_FLOOR: Final = 0.05
REQUEST_METHOD: Final = "bootstrap over requests"
"""How a comparison of two runs makes its intervals (a repeat set's: over runs)."""


@dataclass(frozen=True)
class CompareSettings:
    warn: float = 0.10
    """Relative change (worse) at which a regression is a warning."""
    critical: float = 0.25
    """Relative change (worse) at which a regression is critical."""
    min_samples: int = 20
    """Fewer values on either side and the metric is not judged (a p95 of fewer than 20
    values is the maximum, and a bootstrap of it says nothing)."""
    level: float = 0.95
    rounds: int = 400


class CompareRow(TypedDict):
    """One metric: values, relative change (positive = worse) and its bootstrap CI."""

    metric: str
    scope: str
    unit: str
    base: float | None
    current: float | None
    change: float | None
    ci_low: float | None
    ci_high: float | None
    n_base: int
    n_current: int
    severity: Severity
    description: str


class Comparison(TypedDict):
    base: str
    current: str
    method: str
    """Where the intervals come from: requests resampled, or the runs of repeat sets."""
    level: float
    """The confidence level of each row's interval."""
    settings: dict[str, float]
    rows: list[CompareRow]
    worst: Literal["critical", "warning", "ok"]
    inconclusive: int
    warnings: list[str]


@dataclass(frozen=True)
class _Sample:
    """Values, the valid window (stratum) each comes from, and which of them the metric is
    about (``None``: all; a query type's requests, resampled with the others of their run)."""

    values: FloatArray
    strata: npt.NDArray[np.int64]
    subset: npt.NDArray[np.bool_] | None = None

    @property
    def size(self) -> int:
        return int(self.values.size if self.subset is None else self.subset.sum())

    @property
    def chosen(self) -> FloatArray:
        return self.values if self.subset is None else self.values[self.subset]


@dataclass(frozen=True)
class _Metric:
    name: str
    scope: str
    unit: str
    statistic: float  # percentile, or -1 for the mean
    higher_is_worse: bool
    base: _Sample
    current: _Sample
    floor: float = 0.0
    points: tuple[float, float] | None = None
    """The values themselves when they are not the statistic of the samples (throughput:
    the report's definition, while the samples are per-second rates for the CI)."""


def _window_of(run: RunData, ts: FloatArray, only: str | None = None) -> npt.NDArray[np.int64]:
    """Index of the valid steady window holding each time (-1: none, or not ``only``)."""
    out = np.full(ts.size, -1, dtype=np.int64)
    for k, w in enumerate(stage_windows(run)):
        if w.invalid is None and (only is None or w.name == only):
            out[ends_in(ts, w.t0, w.t1)] = k
    return out


def _sample(
    values: FloatArray, strata: npt.NDArray[np.int64], mask: npt.NDArray[np.bool_]
) -> _Sample:
    keep = mask & (strata >= 0) & np.isfinite(values)
    return _Sample(values[keep], strata[keep])


def _latencies(run: RunData, query_type: str | None, stage: str | None = None) -> _Sample:
    req = run.requests
    strata = _window_of(run, req["ts_end"].to_numpy(np.float64), stage)
    e2e = req["e2e_ms"].to_numpy(np.float64)
    keep = req["ok"].to_numpy(bool) & (strata >= 0) & np.isfinite(e2e)
    if query_type is None:
        return _Sample(e2e[keep], strata[keep])
    of_type = (req["query_type"].astype("string") == query_type).to_numpy(bool)
    return _Sample(e2e[keep], strata[keep], of_type[keep])


def _per_second(run: RunData) -> _Sample:
    """Successful completions per second in equal slices (about 1 s) of every valid steady
    window: each window's mean rate is its throughput exactly."""
    ends = run.requests.loc[run.requests["ok"], "ts_end"].to_numpy(np.float64)
    counts, strata = [], []
    for k, w in enumerate(stage_windows(run)):
        if w.invalid is None and w.seconds > 0:
            slices = max(1, int(w.seconds))
            edges = np.linspace(w.t0, w.t1, slices + 1)
            inside = ends[ends_in(ends, w.t0, w.t1)]
            hist = np.histogram(inside, bins=edges)[0].astype(np.float64)
            counts.append(hist / (w.seconds / slices))
            strata.append(np.full(slices, k, dtype=np.int64))
    if not counts:
        return _Sample(np.zeros(0), np.zeros(0, dtype=np.int64))
    return _Sample(np.concatenate(counts), np.concatenate(strata))


def _throughput(run: RunData) -> float:
    """The report's throughput over the valid windows (``summary.json`` ``overall``)."""
    mask, seconds = valid_mask(run)
    return per_second(int((mask & run.requests["ok"].to_numpy(bool)).sum()), seconds)


def _failures(run: RunData) -> _Sample:
    req = run.requests
    strata = _window_of(run, req["ts_end"].to_numpy(np.float64))
    failures = failed(req["ok"].to_numpy(bool), error_kinds(req)).astype(np.float64)
    return _sample(failures, strata, np.ones(failures.size, dtype=bool))


def _memory(run: RunData) -> _Sample:
    s = run.samples
    if s.empty:
        return _Sample(np.zeros(0), np.zeros(0, dtype=np.int64))
    keep = s["role"].astype("string").isin(TARGET_ROLES).to_numpy(bool)
    strata = _window_of(run, s["ts"].to_numpy(np.float64))
    return _sample(s["rss_bytes"].to_numpy(np.float64) / MB, strata, keep)


def _metrics(base: RunData, cur: RunData) -> list[_Metric]:
    metrics = [
        _Metric("e2e_p95", "all", "ms", 95, True, _latencies(base, None), _latencies(cur, None)),
    ]
    types = sorted(
        set(base.requests["query_type"].astype("string").dropna())
        & set(cur.requests["query_type"].astype("string").dropna())
    )
    for qt in types:
        metrics.append(
            _Metric("e2e_p95", qt, "ms", 95, True, _latencies(base, qt), _latencies(cur, qt))
        )
    # Stages both runs ran validly with the same users: a ladder's p95 pooled over stages
    # mixes light and saturated load; per stage the comparison is like for like.
    cur_windows = {(w.name, w.users) for w in stage_windows(cur) if w.invalid is None}
    for w in stage_windows(base):
        if w.invalid is None and (w.name, w.users) in cur_windows and w.name != "run":
            metrics.append(
                _Metric(
                    "e2e_p95", f"stage {w.name}", "ms", 95, True,
                    _latencies(base, None, w.name), _latencies(cur, None, w.name),
                )
            )  # fmt: skip
    metrics += [
        _Metric(
            "throughput",
            "all",
            "req/s",
            -1,
            False,
            _per_second(base),
            _per_second(cur),
            points=(_throughput(base), _throughput(cur)),
        ),
        _Metric(
            "error_rate", "all", "ratio", -1, True, _failures(base), _failures(cur), _ERROR_FLOOR
        ),
        _Metric("memory", "target", "MB", -1, True, _memory(base), _memory(cur)),
    ]
    return metrics


def _change(higher_is_worse: bool, floor: float) -> Callable[[FloatArray, FloatArray], FloatArray]:
    def change(b: FloatArray, c: FloatArray) -> FloatArray:
        denom = np.maximum(np.abs(b), floor)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = (c - b) / denom
        return np.asarray(rel if higher_is_worse else -rel, dtype=np.float64)

    return change


def _point(values: FloatArray, statistic: float) -> float:
    if statistic < 0:
        return float(np.mean(values))
    value = percentile(values, statistic)
    return float("nan") if value is None else value


def ci_label(level: float) -> str:
    """``95% CI``, ``99.7% CI``: the level as a table heading."""
    return f"{level * 100:.3g}% CI"


def severity_of(change: float, low: float, high: float, settings: CompareSettings) -> Severity:
    """The verdict on a relative change (positive = worse) and its interval: the point
    estimate sets the level; the interval must exclude "no change" for it to count."""
    if change >= settings.warn and low <= 0:
        return "inconclusive"
    if change >= settings.critical:
        return "critical"
    if change >= settings.warn:
        return "warning"
    if change <= -settings.warn and high < 0:
        return "improved"
    return "ok"


def worst_of(rows: Sequence[CompareRow]) -> Literal["critical", "warning", "ok"]:
    """The most severe regression among the rows (``ok`` when none)."""
    flagged = {r["severity"] for r in rows}
    if "critical" in flagged:
        return "critical"
    return "warning" if "warning" in flagged else "ok"


def _judge(m: _Metric, settings: CompareSettings) -> CompareRow:
    row = CompareRow(
        metric=m.name,
        scope=m.scope,
        unit=m.unit,
        base=None,
        current=None,
        change=None,
        ci_low=None,
        ci_high=None,
        n_base=int(m.base.size),
        n_current=int(m.current.size),
        severity="insufficient_data",
        description="",
    )
    if min(m.base.size, m.current.size) < settings.min_samples:
        row["description"] = (
            f"{m.name} ({m.scope}): {m.base.size} vs {m.current.size} values; "
            f"at least {settings.min_samples} needed"
        )
        return row
    b, c = m.base, m.current
    *_, b_reps = bootstrap_ci(
        b.values, m.statistic, rounds=settings.rounds, seed=1, strata=b.strata, subset=b.subset
    )
    *_, c_reps = bootstrap_ci(
        c.values, m.statistic, rounds=settings.rounds, seed=2, strata=c.strata, subset=c.subset
    )
    base, current = m.points or (_point(b.chosen, m.statistic), _point(c.chosen, m.statistic))
    change_of = _change(m.higher_is_worse, m.floor)
    change = float(change_of(np.array([base]), np.array([current]))[0])
    reps = change_of(b_reps, c_reps)
    reps = reps[np.isfinite(reps)]
    alpha = (1 - settings.level) / 2
    lo, hi = (
        (float(v) for v in np.quantile(reps, [alpha, 1 - alpha])) if reps.size else (change, change)
    )
    row["base"], row["current"], row["change"] = base, current, change
    row["ci_low"], row["ci_high"] = lo, hi
    row["severity"] = severity_of(change, lo, hi, settings)
    direction = "worse" if change > 0 else "better"
    row["description"] = (
        f"{m.name} ({m.scope}) {base:.4g} → {current:.4g} {m.unit}: {abs(change):.1%} {direction} "
        f"({settings.level:.0%} CI {lo:+.1%} … {hi:+.1%}, positive = worse)"
    )
    return row


def compare_runs(
    base: RunData, current: RunData, settings: CompareSettings | None = None
) -> Comparison:
    """Every metric judged; ``worst`` is the most severe regression (or ``ok``), and
    ``inconclusive`` counts changes beyond ``warn`` whose CI still includes zero."""
    settings = settings or CompareSettings()
    warnings = []
    names = (base.scenario.get("name"), current.scenario.get("name"))
    if names[0] != names[1]:
        warnings.append(
            f"different scenarios: {names[0]!r} vs {names[1]!r}; changes may not be regressions"
        )
    rows = [_judge(m, settings) for m in _metrics(base, current)]
    return comparison_of(
        base.manifest.run_id or base.path.name,
        current.manifest.run_id or current.path.name,
        REQUEST_METHOD,
        settings.level,
        settings,
        rows,
        warnings,
        base.warnings,
        current.warnings,
    )


def comparison_of(
    base_id: str,
    current_id: str,
    method: str,
    level: float,
    settings: CompareSettings,
    rows: list[CompareRow],
    warnings: list[str],
    base_warnings: Sequence[str],
    current_warnings: Sequence[str],
) -> Comparison:
    """The comparison of judged ``rows``: worst, inconclusive count and every warning, the
    same for two runs and for two repeat sets."""
    return Comparison(
        base=base_id,
        current=current_id,
        method=method,
        level=level,
        settings={
            "warn": settings.warn,
            "critical": settings.critical,
            "min_samples": settings.min_samples,
        },
        rows=rows,
        worst=worst_of(rows),
        inconclusive=sum(r["severity"] == "inconclusive" for r in rows),
        warnings=warnings
        + [f"base: {w}" for w in base_warnings]
        + [f"current: {w}" for w in current_warnings],
    )
