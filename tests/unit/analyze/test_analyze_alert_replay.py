"""The vectorised alert evaluation agrees with the live evaluator in qi_load.monitor.alert_rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from alert_series import evaluate_series
from synthetic_run import SyntheticRun, write_synthetic_run

from qi_load.analyze.alert_replay import evaluate_alerts
from qi_load.analyze.load import RunData, load_run
from qi_load.monitor.alert_rules import AlertRule
from qi_load.record.schema import HostSample, RequestRecord, parse_row

RULES = [
    AlertRule(name="p95", metric="e2e_p95_ms", threshold=2000.0),
    AlertRule(name="err", metric="error_rate", threshold=0.1, severity="critical"),
    AlertRule(name="cpu", metric="cpu_percent", threshold=10.0, for_s=20.0),
    AlertRule(name="mem", metric="rss_growth_mb_per_h", threshold=100.0, window_s=60.0),
]


def _live(root: Path) -> set[tuple[str, str]]:
    import csv

    with (root / "requests.csv").open() as fh:
        records = [parse_row(RequestRecord, r) for r in csv.DictReader(fh)]
    with (root / "host_samples.csv").open() as fh:
        samples = [parse_row(HostSample, r) for r in csv.DictReader(fh)]
    events = evaluate_series(RULES, records, samples)
    return {(e.rule, e.key) for e in events if e.state == "firing"}


def test_same_firings_as_the_live_evaluator(tmp_path: Path) -> None:
    # 30 s stages: every rule still fires (its 60 s growth window, its 20 s for_s) and both
    # sides agree, as at 60 s and for seeds 1 to 3; each row is parsed twice, once a side.
    spec = SyntheticRun(seed=7, error_rate=0.15, leak_mb_per_min=5.0, hold_s=30)
    root = write_synthetic_run(tmp_path / "r", spec)
    ours = {(a["rule"], a["key"]) for a in evaluate_alerts(load_run(root), RULES)}
    assert ours == _live(root)
    assert {rule for rule, _ in ours} == {"p95", "err", "cpu", "mem"}


def test_a_growing_generator_fires_qi_loads_rule_never_the_agents(tmp_path: Path) -> None:
    # 2,000 s: qi-load's own growth rule wants 900 s over a 600 s window. The length is the
    # point, not the load: two light stages write a third of a five-stage ladder's requests.
    spec = SyntheticRun(seed=7, leak_mb_per_min=5.0, leak_role="worker", users=(1, 2), hold_s=1000)
    alerts = evaluate_alerts(load_run(write_synthetic_run(tmp_path / "r", spec)))
    growth = [(a["rule"], a["key"].split(" ")[0]) for a in alerts if "memory" in a["rule"]]
    assert growth == [("qi_load_memory_growth", "worker")]


def test_default_rules_on_a_ladder(ladder: RunData) -> None:
    alerts = evaluate_alerts(ladder)
    assert {a["rule"] for a in alerts} == {"p95_response_time"}
    first = min(a["fired_at"] for a in alerts)
    assert first >= ladder.stages[-1]["start"]  # only the saturated 16-user stage
    assert all(a["severity"] == "warning" and a["worst"] > 2000 for a in alerts)


def test_scenario_rules_replace_the_defaults(ladder: RunData) -> None:
    scenario = {
        **ladder.scenario,
        "alerts": [{"name": "tight", "metric": "e2e_p95_ms", "threshold": 100.0}],
    }
    run = RunData(
        ladder.path,
        ladder.manifest.model_copy(update={"scenario": scenario}),
        ladder.requests,
        ladder.samples,
    )
    assert {a["rule"] for a in evaluate_alerts(run)} == {"tight"}
    assert evaluate_alerts(run)[0]["fired_at"] == pytest.approx(ladder.stages[0]["start"], abs=15)
