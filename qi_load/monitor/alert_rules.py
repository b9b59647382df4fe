"""Alert rules (p95 latency, memory growth, CPU) evaluated over streams of timed values."""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, Self

import numpy as np
import numpy.typing as npt
from numpy.typing import ArrayLike
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from qi_load.errors import QiLoadError
from qi_load.metrics.percentile import percentile
from qi_load.record.schema import HostSample, RequestRecord
from qi_load.units import MB
from qi_load.vocabulary import OWN_ROLES, TARGET_ROLES, Role

__all__ = [
    "DEFAULT_RULES",
    "METRICS",
    "AlertEvaluator",
    "AlertEvent",
    "AlertRule",
    "Point",
    "metric_value",
    "parse_rules",
    "points_from_samples",
    "with_slo_thresholds",
]

Point = tuple[float, float]
"""(unix seconds, value)."""

FloatArray = npt.NDArray[np.float64]
Metric = Literal["e2e_p95_ms", "ttft_p95_ms", "error_rate", "rss_growth_mb_per_h", "cpu_percent"]

METRICS: Final[dict[str, tuple[str, float]]] = {
    # metric -> (source series, default window in seconds)
    "e2e_p95_ms": ("e2e_ms", 60.0),
    "ttft_p95_ms": ("ttft_ms", 60.0),
    "error_rate": ("error", 60.0),
    "rss_growth_mb_per_h": ("rss_bytes", 600.0),
    "cpu_percent": ("cpu_percent", 60.0),
}
_MIN_POINTS: Final = 5
"""A percentile, rate or slope over fewer points is noise, not an alert."""
_SLO_METRICS: Final = frozenset({"e2e_p95_ms", "ttft_p95_ms", "error_rate"})
"""Alert metrics that are also SLO fields of a query type: ``threshold: slo`` reads them."""


def _threshold(value: Any) -> Any:
    """A finite number or ``slo``: one clear error instead of one per union member."""
    if value == "slo":
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"expected a finite number or 'slo', got {value!r}")
    return float(value)


class AlertRule(BaseModel):
    """One alert: ``metric`` over the last ``window_s`` compared with ``threshold``; fires
    once the comparison has held for ``for_s`` seconds (Prometheus' ``for:``) and resolves
    once it has stopped holding for ``keep_s`` (Prometheus' ``keep_firing_for:``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(description="Unique rule name shown in logs and reports.")
    metric: Metric = Field(
        description="e2e_p95_ms / ttft_p95_ms / error_rate (per query type), "
        "rss_growth_mb_per_h / cpu_percent (per sampled process)."
    )
    op: Literal[">", ">=", "<", "<="] = Field(default=">", description="Comparison.")
    threshold: Annotated[float | Literal["slo"], BeforeValidator(_threshold)] = Field(
        description="Value the metric is compared with, in its unit; 'slo': each query "
        "type's SLO limit of the same metric (e2e_p95_ms, ttft_p95_ms, error_rate)."
    )
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="With threshold 'slo': the limit per query type, filled from the "
        "scenario's slos (a type without that SLO is not alerted on).",
    )
    for_s: float = Field(default=0.0, ge=0, description="Seconds the condition must hold.")
    keep_s: float = Field(
        default=0.0,
        ge=0,
        description="Seconds the condition must stop holding before a firing alert resolves "
        "(so a value hovering at the threshold does not flap).",
    )
    severity: Literal["warning", "critical"] = Field(default="warning", description="Level.")
    window_s: float | None = Field(
        default=None,
        gt=0,
        description="Look-back window of the metric; default per metric (60 s, 600 s for growth).",
    )
    roles: tuple[Role, ...] | None = Field(
        default=None,
        description="rss_growth_mb_per_h / cpu_percent: the roles of the processes watched "
        "(master, worker, local: qi-load's own; target, sut: the agent's); null: every process.",
    )

    @property
    def window(self) -> float:
        return self.window_s if self.window_s is not None else METRICS[self.metric][1]

    @property
    def source(self) -> str:
        return METRICS[self.metric][0]

    @model_validator(mode="after")
    def _slo_metric(self) -> Self:
        if self.threshold == "slo" and self.metric not in _SLO_METRICS:
            raise ValueError(
                f"threshold 'slo' needs an SLO metric ({', '.join(sorted(_SLO_METRICS))}), "
                f"not {self.metric!r}"
            )
        return self

    def threshold_for(self, key: str) -> float | None:
        """The threshold of one series (None: the rule does not apply to it)."""
        if self.threshold != "slo":
            return self.threshold
        return self.thresholds.get(key)

    def watches(self, key: str) -> bool:
        """The rule applies to series ``key`` (a process's is ``role host/pid``)."""
        return self.roles is None or key.split(" ", 1)[0] in self.roles

    def holds(self, value: float, key: str = "") -> bool:
        threshold = self.threshold_for(key)
        if threshold is None:
            return False
        if self.op == ">":
            return value > threshold
        if self.op == ">=":
            return value >= threshold
        if self.op == "<":
            return value < threshold
        return value <= threshold


DEFAULT_RULES: Final[tuple[AlertRule, ...]] = (
    AlertRule(
        name="p95_response_time", metric="e2e_p95_ms", threshold="slo", for_s=30.0, keep_s=30.0
    ),
    AlertRule(
        name="memory_growth",
        metric="rss_growth_mb_per_h",
        threshold=10.0,
        severity="critical",
        roles=TARGET_ROLES,
    ),
    AlertRule(name="high_cpu", metric="cpu_percent", threshold=80.0, for_s=300.0, keep_s=30.0),
    AlertRule(
        name="qi_load_memory_growth",
        metric="rss_growth_mb_per_h",
        threshold=10.0,
        for_s=900.0,
        roles=OWN_ROLES,
    ),
)
"""The methodology's rules, with its p95 > 2 s made each query type's E2E p95 SLO (a
reasoning answer takes seconds by design): E2E p95 over its SLO for 30 s (warning), the
agent's memory growth > 10 MB/h (critical), CPU > 80 % for 5 minutes (warning); latency and
CPU alerts resolve after 30 s back under the threshold. qi-load's own processes have their
own memory rule: a warning, and only once growth has held for 15 minutes, so the bounded
growth of a generator warming up (buffers, pools, the first stats) never fires it and never
fails the agent's ``--check``; a generator that keeps growing still does."""


def with_slo_thresholds(
    rules: Iterable[AlertRule], slos: Mapping[str, Any] | None
) -> list[AlertRule]:
    """``rules`` with each ``threshold: slo`` rule's per-type limits read from ``slos``
    ({query type: {metric: limit or null}}, the scenario's)."""
    out = []
    for rule in rules:
        if rule.threshold == "slo" and isinstance(slos, Mapping):
            limits = {
                str(qt): float(entry[rule.metric])
                for qt, entry in slos.items()
                if isinstance(entry, Mapping) and isinstance(entry.get(rule.metric), int | float)
            }
            rule = rule.model_copy(update={"thresholds": limits})
        out.append(rule)
    return out


def parse_rules(
    rules: Iterable[AlertRule | Mapping[str, Any] | BaseModel] | None,
) -> list[AlertRule]:
    """Rules from dicts or pydantic models (e.g. the scenario's); ``None`` -> the defaults."""
    if rules is None:
        return list(DEFAULT_RULES)
    parsed = []
    for i, rule in enumerate(rules):
        if isinstance(rule, AlertRule):
            parsed.append(rule)
            continue
        data = rule.model_dump() if isinstance(rule, BaseModel) else dict(rule)
        try:
            parsed.append(AlertRule.model_validate(data))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise QiLoadError(
                f"alerts[{i}].{field}: {err['msg']} (got {err.get('input')!r})"
            ) from None
    names = [r.name for r in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise QiLoadError(f"alerts: duplicate rule name {duplicates[0]!r}")
    return parsed


def metric_value(
    metric: str, times: ArrayLike, values: ArrayLike, now: float, window_s: float
) -> float | None:
    """The metric over the points with ``now - window_s < time <= now``; ``None`` when the
    window holds too little data (fewer than 5 points; a slope also needs half the window).
    """
    ts, vs = np.asarray(times, dtype=np.float64), np.asarray(values, dtype=np.float64)
    inside = (ts > now - window_s) & (ts <= now)
    count = int(np.count_nonzero(inside))
    if count < _MIN_POINTS:
        return None
    ts, vs = ts[inside], vs[inside]
    if metric in ("e2e_p95_ms", "ttft_p95_ms"):
        return percentile(vs, 95.0)
    if metric in ("error_rate", "cpu_percent"):
        return float(vs.mean())
    if metric == "rss_growth_mb_per_h":
        if ts.max() - ts.min() < window_s / 2:
            return None
        dt = ts - ts.mean()
        var = float(np.dot(dt, dt))
        slope = float(np.dot(dt, vs - vs.mean())) / var if var else 0.0
        return slope * 3600.0 / MB
    raise ValueError(f"unknown metric {metric!r}")


class _Series:
    """One series' recent points as two C arrays (16 bytes a point instead of a ~100-byte
    tuple), dropped from the front as they leave the longest window that reads them."""

    __slots__ = ("start", "times", "values")

    def __init__(self) -> None:
        self.times = array("d")
        self.values = array("d")
        self.start = 0

    def add(self, ts: float, value: float) -> None:
        self.times.append(ts)
        self.values.append(value)

    def arrays(self) -> tuple[FloatArray, FloatArray]:
        """Copies of the live points (views would pin the arrays against appending)."""
        start = self.start
        return (
            np.frombuffer(self.times[start:], dtype=np.float64),
            np.frombuffer(self.values[start:], dtype=np.float64),
        )

    def prune(self, cutoff: float) -> None:
        """Drop leading points at or before ``cutoff`` (up to the first newer one)."""
        newer = np.frombuffer(self.times[self.start :], dtype=np.float64) > cutoff
        self.start += int(np.argmax(newer)) if newer.any() else newer.size
        if self.start > 4096 and self.start * 2 > len(self.times):
            del self.times[: self.start]
            del self.values[: self.start]
            self.start = 0


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """A rule starting (``firing``) or stopping (``resolved``) for one series key."""

    state: Literal["firing", "resolved"]
    rule: str
    severity: str
    metric: str
    key: str
    value: float | None
    threshold: float | None
    op: str
    ts: float
    since: float

    @property
    def message(self) -> str:
        shown = "n/a" if self.value is None else f"{self.value:.1f}"
        if self.state == "resolved":
            return f"alert {self.rule} resolved for {self.key}: {self.metric}={shown}"
        return (
            f"alert {self.rule} ({self.severity}) firing for {self.key}: "
            f"{self.metric}={shown} {self.op} {self.threshold or 0.0:g} "
            f"for {self.ts - self.since:.0f} s"
        )


class AlertEvaluator:
    """Keeps recent points per (source, key) and turns rule transitions into events.

    Deterministic: time only comes from the points' and ``evaluate``'s timestamps.
    """

    def __init__(self, rules: Iterable[AlertRule]) -> None:
        self.rules = list(rules)
        self._keep: dict[str, float] = defaultdict(float)
        for rule in self.rules:
            self._keep[rule.source] = max(self._keep[rule.source], rule.window)
        self._series: dict[str, dict[str, _Series]] = defaultdict(dict)
        self._since: dict[tuple[str, str], float] = {}
        self._clear: dict[tuple[str, str], float] = {}
        self._firing: dict[tuple[str, str], AlertEvent] = {}

    @property
    def firing(self) -> list[AlertEvent]:
        return list(self._firing.values())

    def add(self, source: str, key: str, ts: float, value: float) -> None:
        if source not in self._keep:
            return  # no rule reads this series
        _series_of(self._series[source], key).add(ts, value)

    def add_records(self, records: Iterable[RequestRecord]) -> None:
        """Per request, at its completion time and keyed by query type: an error point (1 or
        0), and for successes the E2E and TTFT (only the sources some rule reads: this runs
        for every request on the master)."""
        keep = self._keep
        errors = self._series["error"] if "error" in keep else None
        e2e = self._series["e2e_ms"] if "e2e_ms" in keep else None
        ttft = self._series["ttft_ms"] if "ttft_ms" in keep else None
        for r in records:
            done = _completed_at(r)
            key = r.query_type
            if errors is not None:
                _series_of(errors, key).add(done, 0.0 if r.ok else 1.0)
            if not r.ok:
                continue
            if e2e is not None and r.e2e_ms is not None:
                _series_of(e2e, key).add(done, r.e2e_ms)
            if ttft is not None and r.ttft_ms is not None:
                _series_of(ttft, key).add(done, r.ttft_ms)

    def add_samples(self, samples: Iterable[HostSample]) -> None:
        for source, key, point in points_from_samples(samples):
            self.add(source, key, *point)

    def evaluate(self, now: float) -> list[AlertEvent]:
        self._prune(now)
        events = []
        for rule in self.rules:
            for key, series in self._series.get(rule.source, {}).items():
                if not rule.watches(key):
                    continue
                value = metric_value(rule.metric, *series.arrays(), now, rule.window)
                event = self._step(rule, key, value, now)
                if event is not None:
                    events.append(event)
        return events

    def _step(
        self, rule: AlertRule, key: str, value: float | None, now: float
    ) -> AlertEvent | None:
        state_key = (rule.name, key)
        if value is not None and rule.holds(value, key):
            self._clear.pop(state_key, None)
            since = self._since.setdefault(state_key, now)
            if state_key not in self._firing and now - since >= rule.for_s:
                event = _event("firing", rule, key, value, now, since)
                self._firing[state_key] = event
                return event
            return None
        self._since.pop(state_key, None)
        if state_key not in self._firing:
            return None
        clear = self._clear.setdefault(state_key, now)
        if now - clear < rule.keep_s:
            return None
        del self._clear[state_key]
        fired = self._firing.pop(state_key)
        return _event("resolved", rule, key, value, now, fired.since)

    def _prune(self, now: float) -> None:
        for source, by_key in self._series.items():
            cutoff = now - self._keep[source]
            for series in by_key.values():
                series.prune(cutoff)


def _series_of(by_key: dict[str, _Series], key: str) -> _Series:
    series = by_key.get(key)
    if series is None:
        series = by_key[key] = _Series()
    return series


def _event(
    state: Literal["firing", "resolved"],
    rule: AlertRule,
    key: str,
    value: float | None,
    now: float,
    since: float,
) -> AlertEvent:
    return AlertEvent(
        state=state,
        rule=rule.name,
        severity=rule.severity,
        metric=rule.metric,
        key=key,
        value=value,
        threshold=rule.threshold_for(key),
        op=rule.op,
        ts=now,
        since=since,
    )


def _completed_at(record: RequestRecord) -> float:
    return record.ts_start + (record.e2e_ms or 0.0) / 1000.0


def points_from_samples(samples: Iterable[HostSample]) -> Iterable[tuple[str, str, Point]]:
    """(source, key, point) per host sample, keyed ``role host/pid``."""
    for s in samples:
        key = f"{s.role} {s.host}/{s.pid}"
        yield "rss_bytes", key, (s.ts, float(s.rss_bytes))
        yield "cpu_percent", key, (s.ts, s.cpu_percent)
