"""Alert rules over plain numbers: windows, for-durations, per-key series, parsing."""

from __future__ import annotations

import pytest
from alert_series import evaluate_series

from qi_load.errors import QiLoadError
from qi_load.monitor.alert_rules import (
    DEFAULT_RULES,
    AlertEvaluator,
    AlertRule,
    metric_value,
    parse_rules,
    with_slo_thresholds,
)
from qi_load.record.schema import HostSample, RequestRecord
from qi_load.scenario import DEFAULT_SLOS
from qi_load.vocabulary import Role


def _record(ts: float, e2e_ms: float, ok: bool = True, qt: str = "simple") -> RequestRecord:
    return RequestRecord(
        ts_sched=ts,
        ts_start=ts,
        worker="w",
        user_id=1,
        query_type=qt,
        name=qt,
        ok=ok,
        error_kind="none" if ok else "http",
        e2e_ms=e2e_ms,
        ttft_ms=e2e_ms / 4,
    )


def _sample(
    ts: float, rss: float, cpu: float = 10.0, pid: int = 5, role: Role = "target"
) -> HostSample:
    return HostSample(ts=ts, host="h", role=role, pid=pid, cpu_percent=cpu, rss_bytes=int(rss))


def test_metric_values() -> None:
    times, values = [float(t) for t in range(100)], [float(v) for v in range(1, 101)]
    assert metric_value("e2e_p95_ms", times, values, 99.0, 1000.0) == pytest.approx(95.05)
    assert metric_value("cpu_percent", times, values, 99.0, 10.0) == pytest.approx(95.5)
    # Points after `now` are not in the window yet.
    assert metric_value("cpu_percent", times, values, 50.0, 10.0) == pytest.approx(46.5)
    # 1 MB per minute = 60 MB per hour.
    minutes = [t * 60.0 for t in range(11)]
    rss = [50e6 + t * 1e6 for t in range(11)]
    assert metric_value("rss_growth_mb_per_h", minutes, rss, 600.0, 600.0) == pytest.approx(60.0)


def test_too_little_data_is_no_value() -> None:
    assert metric_value("e2e_p95_ms", [1.0] * 4, [9e9] * 4, 1.0, 60.0) is None
    # A slope needs half the window covered.
    seconds = [float(t) for t in range(10)]
    assert (
        metric_value("rss_growth_mb_per_h", seconds, [t * 1e6 for t in seconds], 9.0, 600.0) is None
    )


def test_a_long_window_is_pruned_and_kept_exact() -> None:
    """125 s of points at 100/s (6,000 in the 60 s window): the p95 is over exactly the
    window, old points go, and once more are dead than live (from 121 s; past the 4096-point
    minimum by then at any rate over 68/s) the arrays are compacted."""
    rate, seconds = 100, 125
    rule = AlertRule(name="slow", metric="e2e_p95_ms", threshold=1e9)
    ev = AlertEvaluator([rule])
    for second in range(seconds):
        # E2E below 0.25 ms, so completion (= start + E2E) stays inside its second.
        ev.add_records([_record(second + i / rate, (second * rate + i) / 1e6) for i in range(rate)])
        ev.evaluate(second + 1.0)
    series = ev._series["e2e_ms"]["simple"]
    times, values = series.arrays()
    assert times.min() > seconds - 60.0 - 1.0  # pruned to the window
    # Compacted past 120 s (dead points outnumbered the live ones): far fewer than were added.
    assert len(series.times) < (60 + 10) * rate
    # Window (65, 125]: the records of seconds 65..124, in order.
    window = [v / 1e6 for v in range((seconds - 60) * rate, seconds * rate)]
    rank = (len(window) - 1) * 0.95  # linear between closest ranks
    expected = window[int(rank)] + (window[int(rank) + 1] - window[int(rank)]) * (rank % 1)
    assert metric_value("e2e_p95_ms", times, values, float(seconds), 60.0) == pytest.approx(
        expected
    )


def test_p95_follows_each_types_slo_and_holds_before_firing_and_resolving() -> None:
    (rule,) = with_slo_thresholds([DEFAULT_RULES[0]], DEFAULT_SLOS)
    assert (rule.thresholds["reasoning"], rule.thresholds["simple"]) == (8000.0, 2000.0)
    ev = AlertEvaluator([rule])
    # A reasoning answer's 3.5 s is within its 8 s SLO: no alert (a flat 2 s fired at 1 user).
    ev.add_records([_record(100.0 + i, 3500.0, qt="reasoning") for i in range(10)])
    ev.add_records([_record(100.0 + i, 2500.0) for i in range(10)])  # simple, over 2000
    assert ev.evaluate(110.0) == []  # over its SLO from now on, but not yet for 30 s
    assert ev.evaluate(130.0) == []
    events = ev.evaluate(140.0)
    assert [(e.state, e.key, e.threshold) for e in events] == [("firing", "simple", 2000.0)]
    assert "p95_response_time" in events[0].message and "2500" in events[0].message
    ev.add_records([_record(170.0 + i, 300.0) for i in range(10)])
    assert ev.evaluate(180.0) == []  # back under: resolves only after 30 s under
    ev.add_records([_record(190.0 + i, 2500.0) for i in range(10)])
    assert ev.evaluate(200.0) == []  # over again within the 30 s: still firing, no flap
    assert ev.evaluate(260.0) == []  # no points left in the window: under since 260
    resolved = ev.evaluate(290.0)
    assert [(e.state, e.key) for e in resolved] == [("resolved", "simple")]
    assert ev.firing == []


def test_slo_threshold_needs_an_slo_metric_and_a_type_without_one_is_skipped() -> None:
    with pytest.raises(ValueError, match="threshold 'slo' needs an SLO metric"):
        AlertRule(name="x", metric="cpu_percent", threshold="slo")
    (rule,) = with_slo_thresholds(
        [AlertRule(name="t", metric="ttft_p95_ms", threshold="slo")],
        {"simple": {"ttft_p95_ms": 100.0}, "reasoning": {"ttft_p95_ms": None}},
    )
    assert rule.thresholds == {"simple": 100.0}
    assert (rule.threshold_for("simple"), rule.threshold_for("reasoning")) == (100.0, None)
    assert not rule.holds(1e9, "reasoning")


def test_cpu_must_hold_for_five_minutes() -> None:
    rule = DEFAULT_RULES[2]
    busy = [_sample(float(t), 1e6, cpu=95.0) for t in range(0, 400)]
    events = evaluate_series([rule], samples=busy, step_s=1.0)
    assert [(e.state, e.rule) for e in events] == [("firing", "high_cpu")]
    # The 60 s mean first exceeds 80 once 5 points exist (t=4); it must then hold 300 s.
    assert events[0].ts - events[0].since >= 300.0
    assert 300.0 <= events[0].ts <= 310.0
    # A dip every 4 minutes resets the clock: never fires.
    dips = [_sample(float(t), 1e6, cpu=0.0 if t % 240 < 50 else 95.0) for t in range(0, 900)]
    assert evaluate_series([rule], samples=dips, step_s=1.0) == []


def test_memory_growth_is_critical_and_flat_memory_is_quiet() -> None:
    rule = DEFAULT_RULES[1]
    leaking = [_sample(float(t), 80e6 + t * 5e6 / 3600) for t in range(0, 1200, 10)]  # 5 MB/h
    flat = [_sample(float(t), 80e6 + (t % 20) * 1e4, pid=6) for t in range(0, 1200, 10)]
    assert evaluate_series([rule], samples=leaking + flat) == []
    fast = [_sample(float(t), 80e6 + t * 20e6 / 3600, pid=7) for t in range(0, 1200, 10)]
    events = evaluate_series([rule], samples=fast)
    assert [(e.state, e.key, e.severity) for e in events] == [("firing", "target h/7", "critical")]
    assert events[0].value == pytest.approx(20.0, rel=0.01)


def test_qi_loads_own_growth_is_its_own_rule_and_warm_up_growth_never_fires_it() -> None:
    fast = [_sample(float(t), 80e6 + t * 20e6 / 3600, role="worker") for t in range(0, 2400, 10)]
    # Warm-up: 4 MB in the first 5 minutes, then flat (a pool filled, the first stats).
    warm = [
        _sample(float(t), 80e6 + min(t, 300) * 4e6 / 300, pid=6, role="master")
        for t in range(0, 2400, 10)
    ]
    events = evaluate_series(DEFAULT_RULES, samples=fast + warm)
    assert [(e.state, e.rule, e.key, e.severity) for e in events] == [
        ("firing", "qi_load_memory_growth", "worker h/5", "warning")
    ]
    assert events[0].ts - events[0].since >= 900  # held 15 minutes before firing


def test_a_rule_watches_only_its_roles() -> None:
    rule = AlertRule(name="m", metric="cpu_percent", threshold=50.0, roles=("target", "sut"))
    assert rule.watches("target h/1") and rule.watches("sut h/2")
    assert not rule.watches("local h/3") and not rule.watches("master h/4")
    assert AlertRule(name="any", metric="cpu_percent", threshold=50.0).watches("worker h/5")
    with pytest.raises(QiLoadError, match=r"alerts\[0\]\.roles\.0"):
        parse_rules([{"name": "x", "metric": "cpu_percent", "threshold": 1, "roles": ["agent"]}])


def test_error_rate_rule_and_ops() -> None:
    rule = AlertRule(name="errors", metric="error_rate", op=">=", threshold=0.5, window_s=30)
    records = [_record(float(t), 100.0, ok=t % 2 == 0) for t in range(20)]
    events = evaluate_series([rule], records=records, step_s=1.0)
    assert events and events[0].state == "firing"
    low = AlertRule(name="low", metric="cpu_percent", op="<", threshold=5.0)
    assert evaluate_series([low], samples=[_sample(float(t), 1, cpu=1.0) for t in range(20)])


def test_parse_rules_from_dicts_and_errors() -> None:
    assert parse_rules(None) == list(DEFAULT_RULES)
    rules = parse_rules(
        [{"name": "x", "metric": "ttft_p95_ms", "threshold": 500, "severity": "critical"}]
    )
    assert rules[0].window == 60.0 and rules[0].op == ">"
    with pytest.raises(QiLoadError, match=r"alerts\[0\]\.metric.*'p99'"):
        parse_rules([{"name": "x", "metric": "p99", "threshold": 1}])
    with pytest.raises(QiLoadError, match=r"alerts\[1\]\.threshold: Field required"):
        parse_rules(
            [
                {"name": "a", "metric": "cpu_percent", "threshold": 1},
                {"name": "b", "metric": "cpu_percent", "thresold": 1},
            ]
        )
    with pytest.raises(QiLoadError, match="duplicate rule name 'a'"):
        parse_rules([{"name": "a", "metric": "cpu_percent", "threshold": 1}] * 2)
