"""Exact live latency percentiles per query type for the current test, in bounded memory.

The master (or local runner) feeds every record it writes to ``requests.csv`` into
``LiveStats``; ``summarize`` turns a snapshot into exact p50/p95/p99 with ``n`` using the
report's own percentile definition (``qi_load.metrics.percentile``), over the values
as the CSV holds them, so the live numbers equal those a report computes from the file.

Memory is bounded: one ``array('d')`` per query type and metric holds each successful
request's value (8 bytes) up to ``EXACT_MAX`` values; beyond that the values are counted in
logarithmic buckets 1 % wide (``qi_load.metrics.log_histogram``, ~19 KB a series) and the
array only buffers the next ``EXACT_MAX``. Percentiles are then within 0.5 % of the report's
instead of equal to them: a soak of hours must not grow the master by 40 bytes a request.
``reset`` (at each test start) frees everything.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, TypedDict

import numpy as np
import numpy.typing as npt

from qi_load.generate.plan import PlannedStage, plan_end_s, stage_at, users_at
from qi_load.metrics.log_histogram import bucket_counts, histogram_percentile
from qi_load.metrics.percentile import MIN_SAMPLES_P99, percentiles
from qi_load.record.schema import RequestRecord, as_written
from qi_load.vocabulary import QUERY_TYPES

__all__ = [
    "ALL_TYPES",
    "EXACT_MAX",
    "METRICS",
    "LiveStats",
    "MetricSummary",
    "Snapshot",
    "StageInfo",
    "TypeSummary",
    "stage_info",
    "summarize",
]

METRICS: Final = ("ttft_ms", "ttfc_ms", "itl_ms", "tpot_ms", "e2e_ms")
"""The live metrics; ``itl_ms`` is each request's median inter-token latency (``itl_p50_ms``)."""
_SOURCES: Final = (("ttft_ms", "ttft_ms"), ("ttfc_ms", "ttfc_ms"), ("itl_ms", "itl_p50_ms"),
                   ("tpot_ms", "tpot_ms"), ("e2e_ms", "e2e_ms"))  # fmt: skip
ALL_TYPES: Final = "all"
"""The row that pools every query type."""
EXACT_MAX: Final = 20_000
"""Values of one query type and metric kept exactly; more are counted in buckets."""


class MetricSummary(TypedDict):
    """Exact percentiles of one metric (None without values); p99 flagged below 100 values."""

    n: int
    p50: float | None
    p95: float | None
    p99: float | None
    p99_flagged: bool


class TypeSummary(TypedDict):
    """One query type (or ``all``): requests, successes, errors by kind, retries, answer
    quality and latency metrics (counted as ``qi_load.analyze.stages.query_stats`` does)."""

    query_type: str
    requests: int
    ok: int
    errors: dict[str, int]
    retries: int
    """Requests resent once on a fresh connection."""
    quality_checked: int
    """Successful requests whose answer was checked."""
    quality_passed: int
    metrics: dict[str, MetricSummary]


class StageInfo(TypedDict):
    """The stage in force: its position as the scenario numbers its stages (0: the warm-up),
    planned users now, seconds left in it and in the whole plan."""

    name: str
    index: int
    of: int
    users: int
    stage_left_s: float
    plan_left_s: float


@dataclass(frozen=True)
class Snapshot:
    """A copy of the live state, safe to summarize in another thread while records arrive."""

    requests: dict[str, int]
    ok: dict[str, int]
    errors: dict[str, dict[str, int]]
    retries: dict[str, int]
    checked: dict[str, int]
    passed: dict[str, int]
    values: dict[str, dict[str, npt.NDArray[np.float64]]]
    counts: dict[str, dict[str, npt.NDArray[np.int64]]] = field(default_factory=dict)
    """Bucket counts of the series that outgrew ``EXACT_MAX`` (``values`` holds the rest)."""


@dataclass
class LiveStats:
    """Counters and metric values of the current test's records (master / local runner)."""

    version: int = 0
    """Bumped by every change: a summary of an unchanged version can be reused."""
    _requests: Counter[str] = field(default_factory=Counter)
    _ok: Counter[str] = field(default_factory=Counter)
    _errors: dict[str, Counter[str]] = field(default_factory=dict)
    _retries: Counter[str] = field(default_factory=Counter)
    _checked: Counter[str] = field(default_factory=Counter)
    _passed: Counter[str] = field(default_factory=Counter)
    _values: dict[str, dict[str, array[float]]] = field(default_factory=dict)
    _counts: dict[str, dict[str, npt.NDArray[np.int64]]] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget everything (a new test starts)."""
        self._requests, self._ok, self._errors, self._values = Counter(), Counter(), {}, {}
        self._counts = {}
        self._retries, self._checked, self._passed = Counter(), Counter(), Counter()
        self.version += 1

    def observe(self, records: Iterable[RequestRecord]) -> None:
        """Count records as the report does: errors are rows with an ``error_kind`` other than
        ``none``; latencies and answer checks come from successful (``ok``) rows only."""
        for record in records:
            query_type = record.query_type
            self._requests[query_type] += 1
            if record.retries:
                self._retries[query_type] += record.retries
            if record.error_kind != "none":
                self._errors.setdefault(query_type, Counter())[record.error_kind] += 1
            if not record.ok:
                continue
            self._ok[query_type] += 1
            if record.quality_ok is not None:
                self._checked[query_type] += 1
                self._passed[query_type] += record.quality_ok
            series = self._values.get(query_type)
            if series is None:
                series = self._values[query_type] = {m: array("d") for m in METRICS}
            for metric, source in _SOURCES:
                value = getattr(record, source)
                if value is not None:
                    values = series[metric]
                    values.append(as_written(value))
                    if len(values) >= EXACT_MAX:
                        self._to_buckets(query_type, metric, values)
        self.version += 1

    def _to_buckets(self, query_type: str, metric: str, values: array[float]) -> None:
        counts = self._counts.setdefault(query_type, {})
        added = bucket_counts(np.frombuffer(values, dtype=np.float64))
        counts[metric] = counts[metric] + added if metric in counts else added
        del values[:]

    def snapshot(self) -> Snapshot:
        # Copies: an array exporting its buffer to numpy could not grow on the next record.
        return Snapshot(
            requests=dict(self._requests),
            ok=dict(self._ok),
            errors={t: dict(c) for t, c in self._errors.items()},
            retries=dict(self._retries),
            checked=dict(self._checked),
            passed=dict(self._passed),
            values={
                t: {m: np.array(v, dtype=np.float64) for m, v in series.items()}
                for t, series in self._values.items()
            },
            counts={t: {m: c.copy() for m, c in by.items()} for t, by in self._counts.items()},
        )


def _metric(
    values: npt.NDArray[np.float64], counts: npt.NDArray[np.int64] | None = None
) -> MetricSummary:
    if counts is None:
        p = percentiles(values)
        return MetricSummary(
            n=p["n"], p50=p["p50"], p95=p["p95"], p99=p["p99"], p99_flagged=p["p99_flagged"]
        )
    counts = counts + bucket_counts(values)
    n = int(counts.sum())
    return MetricSummary(
        n=n,
        p50=histogram_percentile(counts, 50.0),
        p95=histogram_percentile(counts, 95.0),
        p99=histogram_percentile(counts, 99.0),
        p99_flagged=n < MIN_SAMPLES_P99,
    )


def _counts_of(
    snapshot: Snapshot, types: Sequence[str], metric: str
) -> npt.NDArray[np.int64] | None:
    parts = [snapshot.counts[t][metric] for t in types if metric in snapshot.counts.get(t, {})]
    return np.sum(parts, axis=0) if parts else None


def _ordered_types(names: Iterable[str]) -> list[str]:
    known = [t for t in QUERY_TYPES if t in names]
    return known + sorted(set(names) - set(known))


def summarize(snapshot: Snapshot) -> list[TypeSummary]:
    """One summary per query type (methodology order, then others by name), then ``all``."""
    types = _ordered_types(snapshot.requests)
    rows = [
        TypeSummary(
            query_type=t,
            requests=snapshot.requests.get(t, 0),
            ok=snapshot.ok.get(t, 0),
            errors=dict(sorted(snapshot.errors.get(t, {}).items())),
            retries=snapshot.retries.get(t, 0),
            quality_checked=snapshot.checked.get(t, 0),
            quality_passed=snapshot.passed.get(t, 0),
            metrics={
                m: _metric(
                    snapshot.values.get(t, {}).get(m, np.empty(0)), _counts_of(snapshot, [t], m)
                )
                for m in METRICS
            },
        )
        for t in types
    ]
    errors: Counter[str] = Counter()
    for per_type in snapshot.errors.values():
        errors.update(per_type)
    rows.append(
        TypeSummary(
            query_type=ALL_TYPES,
            requests=sum(snapshot.requests.values()),
            ok=sum(snapshot.ok.values()),
            errors=dict(sorted(errors.items())),
            retries=sum(snapshot.retries.values()),
            quality_checked=sum(snapshot.checked.values()),
            quality_passed=sum(snapshot.passed.values()),
            metrics={
                m: _metric(_pooled(snapshot, types, m), _counts_of(snapshot, types, m))
                for m in METRICS
            },
        )
    )
    return rows


def _pooled(snapshot: Snapshot, types: Sequence[str], metric: str) -> npt.NDArray[np.float64]:
    parts = [snapshot.values[t][metric] for t in types if t in snapshot.values]
    return np.concatenate(parts) if parts else np.empty(0)


def stage_info(
    plan: Sequence[PlannedStage], planned: Sequence[PlannedStage], elapsed_s: float
) -> StageInfo | None:
    """The stage ``elapsed_s`` seconds into the test (None without a plan or after its end).

    ``plan`` is the plan in force; ``planned`` the scenario's own (``QiState.scenario_plan``):
    a capacity search or a sweep adds its steps to the plan as they start, so only the
    scenario's plan knows the test's time budget and its stage count. Stages are numbered as
    the scenario numbers them: the warm-up is 0, and every step of a stepped stage is that
    stage.
    """
    stage = stage_at(plan, elapsed_s) if plan else None
    if stage is None:
        return None
    count = sum(1 for s in planned if not s.is_warmup)
    position = [s for s in plan if not s.is_warmup].index(stage) + 1 if not stage.is_warmup else 0
    return StageInfo(
        name=stage.name,
        index=min(position, count),
        of=count,
        users=users_at(plan, elapsed_s),
        stage_left_s=max(0.0, stage.end_s - elapsed_s),
        plan_left_s=max(0.0, plan_end_s(planned) - elapsed_s),
    )
