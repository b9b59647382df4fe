"""Regressions between two repeat sets, judged on their between-run intervals."""

from __future__ import annotations

import dataclasses
from typing import Final

from qi_load.analyze.compare import (
    CompareRow,
    CompareSettings,
    Comparison,
    ci_label,
    comparison_of,
    severity_of,
)
from qi_load.analyze.repeat_set import STAGE_METRICS, SetSummary
from qi_load.analyze.repeats import Interval, difference_interval

__all__ = ["RUN_METHOD", "compare_sets"]

RUN_METHOD: Final = "t-interval over runs (repeat sets)"


def _row(
    metric: str,
    scope: str,
    unit: str,
    higher_is_worse: bool,
    base: Interval,
    current: Interval,
    settings: CompareSettings,
) -> CompareRow:
    row = CompareRow(
        metric=metric, scope=scope, unit=unit, base=base["mean"], current=current["mean"],
        change=None, ci_low=None, ci_high=None, n_base=base["n"], n_current=current["n"],
        severity="insufficient_data", description="",
    )  # fmt: skip
    diff = difference_interval(base["values"], current["values"], settings.level)
    b, c = base["mean"], current["mean"]
    if diff is None or b is None or c is None or b == 0:
        row["description"] = (
            f"{metric} ({scope}): {base['n']} vs {current['n']} runs with a value"
            + ("; a baseline of 0 has no relative change" if b == 0 else "")
            + "; an interval needs at least 2 runs on one side and 1 on the other"
        )
        return row
    sign = 1.0 if higher_is_worse else -1.0
    lo, hi = sorted((sign * diff.low / abs(b), sign * diff.high / abs(b)))
    change = sign * diff.diff / abs(b)
    row["change"], row["ci_low"], row["ci_high"] = change, lo, hi
    row["severity"] = severity_of(change, lo, hi, settings)
    direction = "worse" if change > 0 else "better"
    row["description"] = (
        f"{metric} ({scope}) {b:.4g} → {c:.4g} {unit} (means of {base['n']} and "
        f"{current['n']} runs): {abs(change):.1%} {direction} ({ci_label(settings.level)} "
        f"{lo:+.1%} … {hi:+.1%}, positive = worse)"
    )
    return row


def compare_sets(
    base: SetSummary, current: SetSummary, settings: CompareSettings | None = None
) -> Comparison:
    """Each stage both sets ran (same name and users): E2E p50, p95 and throughput; and the
    capacity. A change counts only when the interval of the difference of the run means
    excludes zero, so run-to-run noise of the same build is not a regression; the rows'
    intervals hold at ``settings.level`` together."""
    settings = settings or CompareSettings()
    warnings = []
    if base["scenario"] != current["scenario"]:
        warnings.append(
            f"different scenarios: {base['scenario']!r} vs {current['scenario']!r}; "
            "changes may not be regressions"
        )
    current_stages = {(s["stage"], s["users"]): s for s in current["stages"]}
    pairs = [
        (stage, other)
        for stage in base["stages"]
        if (other := current_stages.get((stage["stage"], stage["users"]))) is not None
    ]
    # The verdict is on all rows at once: each row's interval is widened (Bonferroni) so
    # that a same-build comparison has at most a 1 - level chance that ANY row excludes zero.
    count = len(pairs) * len(STAGE_METRICS) + 1
    per_row = dataclasses.replace(settings, level=1.0 - (1.0 - settings.level) / count)
    rows = [
        _row(m.label, f"stage {stage['stage']}", m.unit, m.higher_is_worse,
             stage[m.key], other[m.key], per_row)
        for stage, other in pairs
        for m in STAGE_METRICS
    ]  # fmt: skip
    rows.append(
        _row("capacity", "all", "users", False, base["capacity"]["users"],
             current["capacity"]["users"], per_row)
    )  # fmt: skip
    return comparison_of(
        base["set_id"],
        current["set_id"],
        RUN_METHOD,
        per_row.level,
        settings,
        rows,
        warnings,
        base["warnings"],
        current["warnings"],
    )
