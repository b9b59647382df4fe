"""The capacity search's logic: judge a step's samples against the SLOs, choose the next load.

Pure functions and plain classes over plain numbers (no Locust, no pandas), so the same code
decides live on the master and runs in unit tests.

A step passes when every SLO holds with confidence: each p95 SLO's distribution-free
interval at the search's ``confidence`` (``qi_load.metrics.quantile_ci``, widened for the
serial correlation of latencies measured one after another) lies at or below its limit; it
fails when one interval lies above it; otherwise it is uncertain, and the step goes on (or
is repeated) until it is decided. The driver takes decisions only at looks (``LOOK_GROWTH``),
not at every tick. Error and quality rates are judged on their point estimates. The
search brackets (doubling from the first load while steps pass, halving while they fail),
then bisects between the highest pass and the lowest failure until they are ``resolution``
apart. The capacity is the highest pass; its interval runs from the highest pass decided
with confidence to the lowest failure decided with confidence, so an uncertain decision
widens it rather than hiding in it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, TypedDict

from qi_load.metrics.percentile import percentile
from qi_load.metrics.quantile_ci import serial_quantile_interval
from qi_load.record.schema import RequestRecord
from qi_load.scenario import Search, Slo

__all__ = [
    "CUT_MARGIN",
    "CUT_MIN_SAMPLES",
    "LOOK_GROWTH",
    "SEARCH_JSON",
    "CapacitySearch",
    "Decision",
    "PathStep",
    "SearchResult",
    "StepSamples",
    "Verdict",
    "collect",
    "judge",
    "point_decision",
    "rising",
    "settling",
]

Decision = Literal["pass", "fail", "uncertain"]

SEARCH_JSON: Final = "search.json"
"""The search's result and path in the run directory (a ``SearchResult``)."""
CUT_MIN_SAMPLES: Final = 40
"""Samples before a step may be cut short as clearly over its SLO: four batches of ten, the
fewest whose spread measures the samples' serial correlation (``serial_quantile_interval``)."""
LOOK_GROWTH: Final = 1.5
"""A step's decision is taken at looks, when its samples reached ``min_samples`` and then each
time they grew by this factor: judging at every tick would give chance as many tries to
cross an interval's end as the step has ticks."""
CUT_MARGIN: Final = 1.5
"""Clearly over: before ``min_samples`` a step fails only when its p95's interval lies above
this multiple of the limit, since its first samples come close together in time (a burst
or a stall of the host moves them all at once); at ``min_samples`` above the limit suffices."""
_P95: Final = 0.95
NEAR: Final = 0.5
"""A p95 above this fraction of its limit is near it: its own correlation counts too."""


@dataclass
class StepSamples:
    """One query type's samples in a step's window (successful requests' latencies)."""

    ttft_ms: list[float] = field(default_factory=list)
    e2e_ms: list[float] = field(default_factory=list)
    requests: int = 0
    errors: int = 0
    checked: int = 0
    passed: int = 0

    def add(self, record: RequestRecord, open_loop: bool) -> None:
        """Count one finished request. In the open loop TTFT counts from the request's
        scheduled start: a backlog in the generator is latency its user waits for too."""
        self.requests += 1
        if record.error_kind != "none":
            self.errors += 1
        if not record.ok:
            return
        late_ms = max(0.0, record.ts_start - record.ts_sched) * 1000.0 if open_loop else 0.0
        if record.ttft_ms is not None:
            self.ttft_ms.append(record.ttft_ms + late_ms)
        if record.e2e_ms is not None:
            self.e2e_ms.append(record.e2e_ms + late_ms)
        if record.quality_ok is not None:
            self.checked += 1
            self.passed += record.quality_ok


class Verdict(TypedDict):
    """A step's decision and the statistic that decided it (the one nearest its limit, or the
    most violated)."""

    decision: Decision
    statistic: str
    """``<query type> <SLO field>``, e.g. ``simple ttft_p95_ms``; empty without SLOs."""
    value: float | None
    low: float | None
    high: float | None
    limit: float | None
    n: int


def _check(
    name: str, samples: list[float], limit: float, min_samples: int, confidence: float
) -> tuple[Verdict, float]:
    """A p95 SLO: its verdict and how near it is to deciding the step (ratio to the limit)."""
    value = percentile(samples, 100 * _P95)
    at = (limit, value) if value is not None and value > NEAR * limit else (limit,)
    interval = serial_quantile_interval(samples, _P95, confidence, at=at)
    decision: Decision = "uncertain"
    margin = 1.0 if interval.n >= min_samples else CUT_MARGIN
    if interval.low is not None and interval.low > margin * limit:
        decision = "fail"
    elif interval.high is not None and interval.high <= limit and interval.n >= min_samples:
        decision = "pass"
    verdict = Verdict(
        decision=decision,
        statistic=name,
        value=value,
        low=interval.low,
        high=interval.high,
        limit=limit,
        n=interval.n,
    )
    return verdict, (value / limit if value is not None else math.inf)


def _rate(
    name: str, value: float, limit: float, n: int, above_fails: bool, min_samples: int
) -> Verdict:
    """A rate SLO, on its point estimate once ``min_samples`` requests are in (one early
    error must not fail a step)."""
    failed = value > limit if above_fails else value < limit
    decision: Decision = "uncertain" if n < min_samples else "fail" if failed else "pass"
    return Verdict(
        decision=decision,
        statistic=name,
        value=value,
        low=None,
        high=None,
        limit=limit,
        n=n,
    )


_ORDER: Final[dict[Decision, int]] = {"fail": 0, "uncertain": 1, "pass": 2}


def judge(
    samples: Mapping[str, StepSamples],
    slos: Mapping[str, Slo],
    min_samples: int,
    confidence: float,
) -> Verdict:
    """The step's verdict over the query types of ``slos`` (those of the stage's mix): the
    worst decision of any SLO; a type without samples is uncertain."""
    verdicts: list[tuple[Verdict, float]] = []
    for query_type, slo in slos.items():
        got = samples.get(query_type, StepSamples())
        for field_name, values in (("ttft_p95_ms", got.ttft_ms), ("e2e_p95_ms", got.e2e_ms)):
            limit = getattr(slo, field_name)
            if limit is not None:
                verdicts.append(
                    _check(f"{query_type} {field_name}", values, limit, min_samples, confidence)
                )
        rates = (
            ("error_rate", slo.error_rate, got.errors, got.requests, True),
            ("quality_rate", slo.quality_rate_min, got.passed, got.checked, False),
        )
        for label, rate_limit, count, total, above_fails in rates:
            if rate_limit is not None and total:
                rate = _rate(
                    f"{query_type} {label}",
                    count / total,
                    rate_limit,
                    total,
                    above_fails=above_fails,
                    min_samples=min_samples,
                )
                verdicts.append((rate, 0.0))
    if not verdicts:
        return Verdict(
            decision="pass", statistic="", value=None, low=None, high=None, limit=None, n=0
        )
    # The worst decision; among equals, the statistic nearest (or furthest past) its limit.
    verdict, _ = min(verdicts, key=lambda item: (_ORDER[item[0]["decision"]], -item[1]))
    return verdict


def point_decision(verdict: Verdict) -> Decision:
    """An uncertain verdict decided by its point estimate (after the repeats ran out)."""
    if verdict["value"] is None or verdict["limit"] is None:
        return "fail"
    return "pass" if verdict["value"] <= verdict["limit"] else "fail"


def _thirds(values: list[float]) -> tuple[list[float], list[float]]:
    """The first and the latest third of the values, in the order they arrived."""
    third = len(values) // 3
    return values[:third], values[-third:]


def _p(values: list[float], q: float) -> float:
    """The ``q``-th percentile of a third (never empty: callers wait for ``CUT_MIN_SAMPLES``)."""
    got = percentile(values, q)
    assert got is not None
    return got


def rising(values: list[float], limit: float) -> bool:
    """Clearly over-saturated: the latest third's median is above ``limit`` and its 10th
    percentile above the first third's 90th, so latency is climbing past the limit as a
    queue that grows without bound makes it; a burst that comes and goes within the step
    (a queue at a stable load) seldom separates the thirds that far."""
    if len(values) < CUT_MIN_SAMPLES:
        return False
    first, last = _thirds(values)
    return _p(last, 50) > limit and _p(last, 10) > _p(first, 90)


def settling(values: list[float], limit: float) -> bool:
    """Not yet steady: the latest third's median is a quarter above the first third's and
    within reach of ``limit`` (above half of it), as while a queue still builds after a load
    increase; a pass then waits for samples of the steady state."""
    if len(values) < CUT_MIN_SAMPLES:
        return False
    first, last = (_p(third, 50) for third in _thirds(values))
    return last > 1.25 * first and last > 0.5 * limit


class PathStep(TypedDict):
    """One step of the search as it ran."""

    stage: str
    load: float
    start: float
    end: float
    verdict: Verdict
    decision: Decision
    """What the search did with the step: the verdict's decision, or for an uncertain step
    after its repeats, its point estimate's."""
    certain: bool
    repeat: int
    """0 for a load's first step, then 1, 2, ... for its repeats (samples pooled)."""
    cut_short: bool
    """Ended before it had ``min_samples`` because it was clearly over-saturated."""


class SearchResult(TypedDict):
    """What ``search.json`` holds: the capacity, its interval and the path."""

    stage: str
    loop: Literal["closed", "open"]
    unit: str
    capacity: float | None
    """Highest load that passed (None: even the lowest failed)."""
    interval_low: float | None
    """Highest load that passed with confidence (the capacity is at least this)."""
    interval_high: float | None
    """Lowest load that failed with confidence (None: no load failed for certain)."""
    low: float
    high: float
    finished: str
    """``converged``, ``at_high`` (the highest load passed), ``below_low`` (the lowest
    failed), ``budget`` (the stage's time ran out) or ``running``."""
    path: list[PathStep]


class CapacitySearch:
    """Bracket, then bisect: the loads to try, given each step's decision."""

    def __init__(self, settings: Search, loop: Literal["closed", "open"], stage: str) -> None:
        self.settings = settings
        self.loop = loop
        self.stage = stage
        self.path: list[PathStep] = []
        self.finished = "running"
        self._passed: float | None = None
        self._failed: float | None = None

    @property
    def integer(self) -> bool:
        return self.loop == "closed"

    def first_load(self) -> float:
        return self._round(self.settings.first_load)

    def _round(self, load: float) -> float:
        return float(round(load)) if self.integer else load

    def record(self, step: PathStep) -> float | None:
        """Take a decided step; the next load, or None when the search is over."""
        self.path.append(step)
        load = step["load"]
        if step["decision"] == "pass":
            self._passed = load if self._passed is None else max(self._passed, load)
        else:
            self._failed = load if self._failed is None else min(self._failed, load)
        return self._next(load)

    def _next(self, load: float) -> float | None:
        s = self.settings
        passed, failed = self._passed, self._failed
        if failed is None:
            if load >= s.high:
                self.finished = "at_high"
                return None
            return self._round(min(s.high, load * 2))
        if passed is None:
            if load <= s.low:
                self.finished = "below_low"
                return None
            return self._round(max(s.low, load / 2))
        if self._converged(passed, failed):
            self.finished = "converged"
            return None
        middle = (passed + failed) / 2
        return float(math.floor(middle)) if self.integer else middle

    def _converged(self, passed: float, failed: float) -> bool:
        if self.integer:
            return failed - passed <= max(1.0, self.settings.resolution * passed)
        return failed - passed <= self.settings.resolution * passed

    def result(self) -> SearchResult:
        certain_pass = [p["load"] for p in self.path if p["certain"] and p["decision"] == "pass"]
        certain_fail = [p["load"] for p in self.path if p["certain"] and p["decision"] == "fail"]
        return SearchResult(
            stage=self.stage,
            loop=self.loop,
            unit="users" if self.loop == "closed" else "requests/s",
            capacity=self._passed,
            interval_low=max(certain_pass) if certain_pass else None,
            interval_high=min(certain_fail) if certain_fail else None,
            low=self.settings.low,
            high=self.settings.high,
            finished=self.finished,
            path=list(self.path),
        )


def collect(
    records: Iterable[RequestRecord],
    window_start: float,
    types: Iterable[str],
    into: dict[str, StepSamples],
    open_loop: bool,
) -> None:
    """Add the records scheduled in the window (from ``window_start`` on) of the judged types."""
    wanted = set(types)
    for record in records:
        if record.error_kind == "cancelled" or record.query_type not in wanted:
            continue
        if record.ts_sched < window_start:
            continue
        into.setdefault(record.query_type, StepSamples()).add(record, open_loop)
