"""The alert rules replayed over a finished run with the live evaluator, step by step:
the reference the report's vectorised evaluation is tested against."""

from __future__ import annotations

from collections.abc import Iterable

from qi_load.monitor.alert_rules import AlertEvaluator, AlertEvent, AlertRule
from qi_load.record.schema import HostSample, RequestRecord

__all__ = ["evaluate_series"]


def _completed_at(record: RequestRecord) -> float:
    return record.ts_start + (record.e2e_ms or 0.0) / 1000.0


def evaluate_series(
    rules: Iterable[AlertRule],
    records: Iterable[RequestRecord] = (),
    samples: Iterable[HostSample] = (),
    *,
    step_s: float = 5.0,
) -> list[AlertEvent]:
    """All alert events of a finished run, evaluating every ``step_s`` seconds (for reports).

    Events still firing at the end stay unresolved, as they would be live.
    """
    by_done = sorted(records, key=_completed_at)
    by_ts = sorted(samples, key=lambda s: s.ts)
    starts = [_completed_at(by_done[0])] if by_done else []
    starts += [by_ts[0].ts] if by_ts else []
    if not starts:
        return []
    evaluator = AlertEvaluator(rules)
    events: list[AlertEvent] = []
    now = min(starts) + step_s
    i = j = 0
    while True:
        start_i, start_j = i, j
        while i < len(by_done) and _completed_at(by_done[i]) <= now:
            i += 1
        while j < len(by_ts) and by_ts[j].ts <= now:
            j += 1
        evaluator.add_records(by_done[start_i:i])
        evaluator.add_samples(by_ts[start_j:j])
        events += evaluator.evaluate(now)
        if i >= len(by_done) and j >= len(by_ts):
            return events
        now += step_s
