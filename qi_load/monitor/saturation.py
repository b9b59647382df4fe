"""Generator saturation: stages during which a load-generating process ran out of CPU."""

from __future__ import annotations

import csv
import itertools
import statistics
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from qi_load.record.schema import HostSample, StageMark, host_sample_from_row
from qi_load.vocabulary import GENERATOR_ROLES

__all__ = [
    "DEFAULT_MIN_SECONDS",
    "DEFAULT_THRESHOLD_PCT",
    "SaturatedSpan",
    "busy_percent",
    "saturated_spans",
    "saturated_stages",
    "saturated_stages_from_csv",
]

DEFAULT_THRESHOLD_PCT: Final = 75.0
"""A load generator busier than this (of the one core a gevent process can use) distorts
timings: measured, TTFT errors grow from +2.8 ms p99 at 65 % CPU to +19-38 ms at 83-90 %
(docs/monitoring.md). The live rule and the report's first-saturated resource both use it."""
DEFAULT_MIN_SECONDS: Final = 5.0


@dataclass(frozen=True, slots=True)
class SaturatedSpan:
    """An uninterrupted stretch of samples at or above the threshold for one process."""

    host: str
    pid: int
    role: str
    start: float
    end: float
    peak_pct: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def busy_percent(sample: HostSample) -> float:
    """CPU of a gevent process relative to what it can use: one core, or a smaller quota.

    A Locust process runs its users on one thread, so 100 % of one core is saturation even
    on a many-core host. ``cpu_percent`` is relative to the cgroup quota when one applies;
    with a quota above one core this converts back to one core.
    """
    quota = sample.cpu_quota_cores
    if quota is None or quota <= 1.0:
        return sample.cpu_percent
    return sample.cpu_percent * quota


def saturated_spans(
    samples: Iterable[HostSample],
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
    *,
    roles: Collection[str] = GENERATOR_ROLES,
) -> list[SaturatedSpan]:
    """Runs of consecutive samples at or above ``threshold_pct``, per (host, pid).

    A sample's ``cpu_percent`` is the average since the previous sample, so a run starts
    at the timestamp of the sample before its first busy one (for a series' first sample:
    one median interval earlier) and ends at its last busy sample.
    """
    series: dict[tuple[str, int], list[HostSample]] = defaultdict(list)
    for sample in samples:
        if sample.role in roles:
            series[(sample.host, sample.pid)].append(sample)
    spans: list[SaturatedSpan] = []
    for (host, pid), points in series.items():
        points.sort(key=lambda s: s.ts)
        gaps = [b.ts - a.ts for a, b in itertools.pairwise(points)]
        first_interval = statistics.median(gaps) if gaps else 0.0
        run_start: float | None = None
        peak = 0.0
        previous_ts = points[0].ts - first_interval
        for point in [*points, None]:
            busy = busy_percent(point) if point is not None else -1.0
            if busy >= threshold_pct and point is not None:
                if run_start is None:
                    run_start, peak = previous_ts, busy
                peak = max(peak, busy)
            elif run_start is not None:
                spans.append(SaturatedSpan(host, pid, points[0].role, run_start, previous_ts, peak))
                run_start = None
            if point is not None:
                previous_ts = point.ts
    return sorted(spans, key=lambda s: (s.start, s.host, s.pid))


def saturated_stages(
    samples: Iterable[HostSample],
    stages: Sequence[StageMark | Mapping[str, Any]],
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
    min_seconds: float = DEFAULT_MIN_SECONDS,
) -> dict[str, str]:
    """Stage name -> reason, for stages in which a generator stayed >= threshold long enough.

    Only the part of a saturated span inside the stage's [start, end] counts. ``stages``
    are ``StageMark`` objects or dicts with ``name``, ``start`` and ``end`` (unix seconds;
    an ``end`` of 0 or ``None`` means the stage is still running).
    """
    spans = saturated_spans(samples, threshold_pct)
    reasons: dict[str, str] = {}
    for stage in stages:
        name, start, end = _bounds(stage)
        longest: tuple[float, SaturatedSpan] | None = None
        for span in spans:
            inside = min(span.end, end) - max(span.start, start)
            if inside >= min_seconds and (longest is None or inside > longest[0]):
                longest = (inside, span)
        if longest is not None:
            seconds, span = longest
            reasons[name] = (
                f"{span.role} {span.host}/{span.pid} at >= {threshold_pct:g}% CPU for "
                f"{seconds:.1f} s (peak {span.peak_pct:.0f}%): its timings are distorted"
            )
    return reasons


def _bounds(stage: StageMark | Mapping[str, Any]) -> tuple[str, float, float]:
    if isinstance(stage, StageMark):
        return stage.name, stage.start, stage.end or float("inf")
    end = stage.get("end")
    return str(stage["name"]), float(stage["start"]), float(end) if end else float("inf")


def saturated_stages_from_csv(
    path: Path,
    stages: Sequence[StageMark | Mapping[str, Any]],
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
    min_seconds: float = DEFAULT_MIN_SECONDS,
) -> dict[str, str]:
    """``saturated_stages`` over a ``host_samples.csv`` (no file: nothing is saturated)."""
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        samples = [host_sample_from_row(row) for row in csv.DictReader(f)]
    return saturated_stages(samples, stages, threshold_pct, min_seconds)
