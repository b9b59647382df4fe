"""Scenario files: packaged scenarios load, defaults hold, and every mistake is one clear line."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from qi_load.cli import EXIT_USAGE, exit_code_for
from qi_load.errors import QiLoadError
from qi_load.scenario import (
    DEFAULT_MIX,
    SCENARIO_DIR,
    Arrival,
    Scenario,
    ThinkTime,
    available_scenarios,
    load_scenario,
    packaged_scenario_path,
    resolve_scenario,
)
from qi_load.vocabulary import QUERY_TYPES
from qi_load.yamlconf import parse_overrides

SHIPPED = (
    "ladder",
    "memory",
    "quick-ladder",
    "response-time",
    "smoke",
    "soak",
    "spike",
    "stress",
)

GOOD = """\
name: good
stages:
  - {users: 1, hold_s: 10}
  - {users: 5, ramp_s: 5, hold_s: 10}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, overrides: dict[str, object] | None = None) -> str:
    with pytest.raises(QiLoadError) as exc:
        load_scenario(path, overrides)
    assert exit_code_for(exc.value) == EXIT_USAGE
    message = str(exc.value)
    assert "\n" not in message
    return message


# --- the shipped scenarios --------------------------------------------------------------


def test_every_shipped_scenario_loads_and_validates() -> None:
    assert available_scenarios() == sorted(SHIPPED)
    for name in SHIPPED:
        scenario = resolve_scenario(name)
        assert scenario.name == name
        assert scenario.description
        # The resolved form (what run.json stores) loads back to the same scenario.
        again = Scenario.model_validate(scenario.model_dump(mode="json"))
        assert again == scenario


def test_repository_scenarios_link_is_the_packaged_directory() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert (repo / "scenarios").resolve() == SCENARIO_DIR.resolve()


def test_ladder_is_the_methodology_profile() -> None:
    ladder = resolve_scenario("ladder")
    assert ladder.warmup_s == 30
    assert [(s.users, s.ramp_s, s.hold_s) for s in ladder.stages] == [
        (1, 0, 300),
        (5, 30, 300),
        (10, 60, 300),
        (20, 120, 300),
        (50, 300, 300),
    ]


def test_quick_ladder_and_smoke_are_short() -> None:
    quick = resolve_scenario("quick-ladder")
    assert [s.users for s in quick.stages] == [1, 5, 10, 20, 50]
    assert all(s.duration_s == 20 for s in quick.stages)
    assert quick.total_duration_s <= 120
    assert resolve_scenario("smoke").total_duration_s < 20


def test_response_time_and_memory_follow_the_methodology() -> None:
    response = resolve_scenario("response-time")
    (stage,) = response.stages
    assert stage.sequence is not None
    assert (stage.users, stage.sequence.per_type, stage.sequence.pause_s) == (1, 20, 1.0)
    assert {k for k, w in response.mix.items() if w > 0} == set(QUERY_TYPES)
    memory = resolve_scenario("memory")
    assert memory.conversation.turns == 10
    users = {s.name: s.users for s in memory.stages}
    assert users["idle"] == 0 and users["concurrent-conversations"] == 5
    assert memory.stage_mix(memory.stages[2]) == {"conversation": 1.0}
    assert next(s for s in memory.stages if s.name == "long-running").hold_s == 3600


# --- defaults and helpers ------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, GOOD))
    assert scenario.mix == DEFAULT_MIX
    assert scenario.arrival.mode == "closed"
    assert scenario.time_scale == 1.0
    assert scenario.monitor.interval_s == 1.0
    assert set(scenario.slos) == {*QUERY_TYPES, "conversation"}
    assert scenario.slos["simple"].e2e_p95_ms == 2000
    assert scenario.targets.memory_mb.target == 75
    assert [
        (a.metric, a.op, a.threshold, a.for_s, a.keep_s, a.severity) for a in scenario.alerts
    ] == [
        ("e2e_p95_ms", ">", "slo", 30.0, 30.0, "warning"),
        ("rss_growth_mb_per_h", ">", 10.0, 0.0, 0.0, "critical"),
        ("cpu_percent", ">", 80.0, 300.0, 30.0, "warning"),
        ("rss_growth_mb_per_h", ">", 10.0, 900.0, 0.0, "warning"),
    ]
    # The latency alert's limits are the scenario's own per-type SLOs.
    assert scenario.alerts[0].thresholds == {
        qt: slo.e2e_p95_ms for qt, slo in scenario.slos.items() if slo.e2e_p95_ms is not None
    }
    assert scenario.required_users is None and scenario.required_rate is None
    assert [s.name for s in scenario.stages] == ["1u", "5u"]


def test_name_defaults_to_file_stem_and_repeated_stage_names_get_suffixes(
    tmp_path: Path,
) -> None:
    text = (
        "stages:\n  - {users: 5, hold_s: 1}\n  - {users: 9, hold_s: 1}\n  - {users: 5, hold_s: 1}\n"
    )
    scenario = load_scenario(write(tmp_path, text, "my-test.yaml"))
    assert scenario.name == "my-test"
    assert [s.name for s in scenario.stages] == ["5u", "9u", "5u-2"]


def test_partial_slos_and_targets_keep_the_other_defaults(tmp_path: Path) -> None:
    text = GOOD + "slos: {reasoning: {e2e_p95_ms: 12000}}\ntargets: {memory_mb: {target: 60}}\n"
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.slos["reasoning"].e2e_p95_ms == 12000
    assert scenario.slos["reasoning"].ttft_p95_ms == 2000
    assert scenario.slos["simple"].e2e_p95_ms == 2000
    assert (scenario.targets.memory_mb.stretch, scenario.targets.memory_mb.target) == (50, 60)


def test_duration_s_becomes_hold_s(tmp_path: Path) -> None:
    text = "stages:\n  - {users: 4, ramp_s: 5, duration_s: 20}\n"
    (stage,) = load_scenario(write(tmp_path, text)).stages
    assert (stage.ramp_s, stage.hold_s, stage.duration_s) == (5, 15, 20)


def test_overrides_and_scaling(tmp_path: Path) -> None:
    overrides = parse_overrides(["time_scale=0.5", "stages.1.users=7", "mix.simple=3"])
    scenario = load_scenario(write(tmp_path, GOOD + "warmup_s: 4\nsettle_s: 2\n"), overrides)
    assert scenario.time_scale == 0.5
    assert scenario.stages[1].users == 7
    assert scenario.mix["simple"] == 3
    assert scenario.total_duration_s == pytest.approx((4 + 10 + 15) * 0.5)
    scaled = scenario.scaled()
    assert scaled.time_scale == 1.0
    assert (scaled.warmup_s, scaled.settle_s) == (2, 1)
    assert [(s.ramp_s, s.hold_s) for s in scaled.stages] == [(0, 5), (2.5, 5)]
    assert scaled.alerts[2].for_s == 150
    assert scaled.total_duration_s == scenario.total_duration_s
    bracketed = load_scenario(write(tmp_path, GOOD), {"stages[0].users": 2})
    assert bracketed.stages[0].users == 2
    # A null on the way is replaced by a mapping; string values are read as YAML.
    overrides = {"arrival.mode": "open", "arrival.rate": "2.5"}
    nested = load_scenario(write(tmp_path, GOOD + "arrival: null\n"), overrides)
    assert (nested.arrival.mode, nested.arrival.rate) == ("open", 2.5)


def test_resolve_by_path_and_name(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    assert resolve_scenario(str(path)).name == "good"
    assert packaged_scenario_path("smoke") == SCENARIO_DIR / "smoke.yaml"


def test_the_report_and_the_generator_agree_with_the_scenario() -> None:
    # run.json carries the resolved scenario; the report grades its targets section.
    from qi_load.analyze.targets import targets_from_scenario

    changed = resolve_scenario("smoke", {"targets.p95_s.target": 1.2})
    for scenario in (resolve_scenario("ladder"), changed):
        config = targets_from_scenario(scenario.model_dump(mode="json"))
        assert config.model_dump() == scenario.targets.model_dump()
    assert changed.targets.p95_s.target == 1.2


def test_think_time_and_arrival_helpers() -> None:
    rng = random.Random(1)
    uniform = ThinkTime(kind="uniform", min_s=1.0, max_s=2.0)
    assert all(1.0 <= uniform.sample(rng) <= 2.0 for _ in range(100))
    assert ThinkTime(kind="constant", seconds=0.5).sample(rng) == 0.5
    assert ThinkTime(kind="none").sample(rng) == 0.0
    mean = sum(ThinkTime(kind="exponential", mean_s=2.0).sample(rng) for _ in range(4000)) / 4000
    assert mean == pytest.approx(2.0, rel=0.1)
    assert Arrival(mode="open", rate=10, process="constant").gap_s(rng, users=5) == 0.5


# --- mistakes: one line each, naming file, place, value and expectation --------------------


def test_file_not_found(tmp_path: Path) -> None:
    message = error_of(tmp_path / "nope.yaml")
    assert "nope.yaml" in message and "not found" in message


def test_bad_yaml_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "stages:\n  - users: 1\n     hold_s: 10\n")
    message = error_of(path)
    assert message.startswith(f"{path}:3:")
    assert "invalid YAML" in message


def test_not_a_mapping(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "- users: 1\n"))
    assert "expected a mapping of scenario fields" in message and "got a list" in message
    assert "empty file" in error_of(write(tmp_path, "# nothing\n", "empty.yaml"))


def test_unknown_field_suggests_the_close_match(tmp_path: Path) -> None:
    path = write(tmp_path, "stages:\n  - users: 1\n    hold: 10\n")
    message = error_of(path)
    assert message.startswith(f"{path}:3: stages[0].hold: unknown field 'hold'")
    assert "did you mean 'hold_s'?" in message
    assert "duration_s" in message  # listed among the allowed fields
    top = error_of(write(tmp_path, GOOD + "warmup: 3\n", "top.yaml"))
    assert "warmup: unknown field 'warmup' (did you mean 'warmup_s'?)" in top


def test_unknown_query_type(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "mix: {simpel: 1, reasoning: 1}\n")
    message = error_of(path)
    assert message.startswith(f"{path}:5: mix.simpel: unknown query type 'simpel'")
    assert "did you mean 'simple'?" in message and "code_generation" in message
    slo = error_of(write(tmp_path, GOOD + "slos: {reasonin: {e2e_p95_ms: 1}}\n", "slo.yaml"))
    assert "slos.reasonin: unknown query type 'reasonin' (did you mean 'reasoning'?)" in slo


def test_negative_users(tmp_path: Path) -> None:
    path = write(tmp_path, "stages:\n  - {users: 1, hold_s: 5}\n  - {users: -3, hold_s: 5}\n")
    message = error_of(path)
    assert message.startswith(f"{path}:3: stages[1].users: expected a value >= 0, got -3")


def test_wrong_type(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "stages:\n  - {users: many, hold_s: 5}\n"))
    assert "stages[0].users: expected a valid integer, got 'many'" in message
    message = error_of(write(tmp_path, "stages:\n  - {users: 2.5, hold_s: 5}\n", "f.yaml"))
    assert "stages[0].users: expected a valid integer, got 2.5" in message
    message = error_of(write(tmp_path, "stages: {users: 2}\n", "m.yaml"))
    assert "stages: expected a valid list, got a mapping" in message


def test_ramp_longer_than_the_stage(tmp_path: Path) -> None:
    path = write(tmp_path, "stages:\n  - {users: 5, ramp_s: 30, duration_s: 20}\n")
    message = error_of(path)
    assert message.startswith(f"{path}:2: stages[0].ramp_s:")
    assert "ramp (30 s) is longer than the stage's duration_s (20 s)" in message


def test_empty_stages_and_missing_hold(tmp_path: Path) -> None:
    assert "stages: expected at least 1 item, got an empty list" in error_of(
        write(tmp_path, "stages: []\n")
    )
    assert "missing required field 'stages'" in error_of(write(tmp_path, "name: x\n", "n.yaml"))
    message = error_of(write(tmp_path, "stages:\n  - {users: 2}\n", "h.yaml"))
    assert "stages[0].hold_s: missing: give hold_s" in message and "duration_s" in message


def test_time_scale_not_positive(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD + "time_scale: 0\n"))
    assert message.endswith("time_scale: expected a value > 0, got 0")
    # A stage scaled below one second cannot be followed by Locust's once-a-second shape.
    short = error_of(write(tmp_path, GOOD, "g.yaml"), {"time_scale": 0.05})
    assert "stages[0]: lasts 0.5 s after time_scale 0.05" in short


def test_open_loop_without_rate(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD + "arrival: {mode: open}\n"))
    assert "arrival.rate: missing: mode 'open' needs a rate" in message
    typo = error_of(write(tmp_path, GOOD + "arrival: {mode: opne, rate: 3}\n", "t.yaml"))
    assert "arrival.mode: expected one of closed, open, got 'opne' (did you mean 'open'?)" in typo


def test_mix_weights_all_zero(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD + "mix: {simple: 0, reasoning: 0}\n"))
    assert "mix: all weights are 0" in message


def test_think_time_parameters_per_kind(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD + "think_time: {kind: constant}\n"))
    assert "think_time.seconds: missing: kind 'constant' needs seconds" in message
    extra = error_of(write(tmp_path, GOOD + "think_time: {kind: none, mean_s: 2}\n", "x.yaml"))
    assert "think_time.mean_s: not used by kind 'none'" in extra
    order = error_of(
        write(tmp_path, GOOD + "think_time: {kind: uniform, min_s: 3, max_s: 1}\n", "o.yaml")
    )
    assert "think_time.min_s: 3.0 is greater than max_s 1.0" in order


def test_duplicate_and_reserved_stage_names(tmp_path: Path) -> None:
    text = "stages:\n  - {name: a, users: 1, hold_s: 5}\n  - {name: a, users: 2, hold_s: 5}\n"
    path = write(tmp_path, text)
    assert error_of(path).startswith(f"{path}:3: stages[1].name: 'a' is already used by stages[0]")
    reserved = "stages:\n  - {name: warmup, users: 1, hold_s: 5}\n"
    assert "'warmup' is reserved" in error_of(write(tmp_path, reserved, "r.yaml"))


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path = write(tmp_path, "stages:\n  - users: 1\n    hold_s: 5\n    users: 2\n")
    assert error_of(path) == f"{path}:4: stages[0]: duplicate key 'users'"


def test_targets_out_of_order(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD + "targets: {startup_ms: {stretch: 900}}\n"))
    assert (
        "targets.startup_ms: levels out of order (stretch 900, target 300, minimum 500)" in message
    )


def test_bad_alert_rule(tmp_path: Path) -> None:
    text = GOOD + "alerts:\n  - {name: x, metric: p95, threshold: 1}\n"
    message = error_of(write(tmp_path, text))
    assert message.startswith(f"{tmp_path / 's.yaml'}:6: alerts[0].metric: expected one of")
    assert "'p95'" in message


def test_override_mistakes_name_the_override(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    message = error_of(path, {"stages.0.users": "-1"})
    assert "stages[0].users: expected a value >= 0, got -1" in message
    assert "(set by override stages.0.users=-1)" in message
    assert "is a list of 2, expected an index 0..1 instead of 5" in error_of(
        path, {"stages.5.users": 1}
    )
    with pytest.raises(QiLoadError, match="expected KEY=VALUE"):
        parse_overrides(["time_scale"])


def test_unknown_packaged_name_lists_the_available_ones() -> None:
    with pytest.raises(QiLoadError) as exc:
        resolve_scenario("quick-ladde")
    message = str(exc.value)
    assert "unknown scenario 'quick-ladde' (did you mean 'quick-ladder'?)" in message
    assert "ladder, memory, quick-ladder" in message
    with pytest.raises(QiLoadError, match=r"missing\.yaml: scenario file not found"):
        resolve_scenario("missing.yaml")


# --- bounds: finite numbers, caps, nesting ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "stages:\n  - {users: 2, hold_s: .inf}\n",
            "s.yaml:2: stages[0].hold_s: expected a finite",
        ),
        ("stages:\n  - {users: 2, hold_s: .nan}\n", "stages[0].hold_s: expected a finite"),
        ("stages:\n  - {users: 2, duration_s: .inf}\n", "duration_s: expected a finite number"),
        ("stages:\n  - {users: 1e11, hold_s: 5}\n", "stages[0].users: expected a valid integer"),
        (
            "stages:\n  - {users: 100000000000, hold_s: 5}\n",
            "stages[0].users: 100000000000 is more than limits.max_users (10000)",
        ),
        (
            "stages:\n  - {users: 2, hold_s: 5}\narrival: {mode: open, rate: 1000000000}\n",
            "arrival.rate: 1e+09 is more than limits.max_rate",
        ),
        ("stages:\n  - {users: 2, hold_s: 1000000000}\n", "more than limits.max_duration_s"),
        ("stages:\n  - {users: 2, hold_s: 5}\ntime_scale: .inf\n", "time_scale: expected a finite"),
        (
            "stages:\n  - {users: 2, hold_s: 5}\nalerts:\n  - {name: a, metric: e2e_p95_ms, "
            "threshold: .inf}\n",
            "alerts[0].threshold: expected a finite",
        ),
    ],
)
def test_absurd_values_are_one_line(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(write(tmp_path, text))


def test_time_scale_override_that_never_ends(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD), {"time_scale": 1e308})
    assert "time_scale: the run lasts inf s" in message and "max_duration_s" in message


def test_limits_can_be_raised_for_a_run_that_needs_more(tmp_path: Path) -> None:
    text = "limits: {max_users: 20000}\nstages:\n  - {users: 15000, hold_s: 5}\n"
    assert load_scenario(write(tmp_path, text)).stages[0].users == 15000
    assert "limits.max_users: expected a value <= 1e+07" in error_of(
        write(tmp_path, "limits: {max_users: 100000000}\nstages:\n  - {users: 1, hold_s: 5}\n")
    )


def test_deep_nesting_is_one_line(tmp_path: Path) -> None:
    # 600 levels take 1200+ parser frames, past Python's default limit of 1000 (and a
    # higher limit meets the depth check). A line each: on one line, PyYAML's scanner looks
    # ahead at every level for a key (quadratic in the depth: 10x the time).
    deep = "stages: " + "[\n" * 600 + "]" * 600 + "\n"
    assert "nested deeper than 32 levels" in error_of(write(tmp_path, deep))
    mix = "mix: " + "{a: " * 40 + "1" + "}" * 40 + "\n"
    assert "s.yaml:1: nested deeper than 32 levels" in error_of(write(tmp_path, mix))
