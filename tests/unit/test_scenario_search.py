"""Search stages in a scenario: defaults, scaling, and every mistake as one clear line."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from qi_load.errors import QiLoadError
from qi_load.generate.plan import stage_plan
from qi_load.scenario import Arrival, load_scenario

CLOSED = """\
name: s
stages:
  - {name: warm, users: 2, hold_s: 5}
  - {hold_s: 60, search: {low: 1, high: 32, start: 4}}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(QiLoadError) as info:
        load_scenario(_write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_search_stage_defaults_its_name_users_and_settings(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, CLOSED), {"time_scale": 0.5}).scaled()
    stage = scenario.stages[-1]
    assert (stage.name, stage.users, stage.hold_s) == ("search", 0, 30.0)
    assert stage.search is not None
    assert (stage.search.first_load, stage.search.resolution) == (4, 0.05)
    assert (stage.search.settle_s, stage.search.step_max_s) == (1.0, 30.0)  # time_scale applied
    plan = stage_plan(scenario)
    assert [p.name for p in plan] == ["warm", "search"] and plan[-1].rate == 0.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "stages:\n  - {hold_s: 60, search: {low: 1, high: 8}}\n  - {users: 1, hold_s: 5}\n",
            "stages[0].search: a search stage must be the last stage",
        ),
        (
            "stages:\n  - {hold_s: 60, search: {low: 4, high: 2}}\n",
            "stages[0].search.high: 2 is not above low 4",
        ),
        (
            "stages:\n  - {hold_s: 60, search: {low: 1.5, high: 8}}\n",
            "stages[0].search.low: 1.5: a closed-loop search counts whole users",
        ),
        (
            "stages:\n  - {hold_s: 60, search: {low: 1, high: 8, start: 9}}\n",
            "stages[0].search.start: 9 is outside [low, high] = [1, 8]",
        ),
        (
            "arrival: {mode: open, rate: 1}\n"
            "stages:\n  - {hold_s: 60, search: {low: 1, high: 8}}\n",
            "stages[0].users: missing: an open-loop search needs `users`",
        ),
        (
            "stages:\n  - {hold_s: 60, ramp_s: 5, search: {low: 1, high: 8}}\n",
            "stages[0].ramp_s: a search stage sets its loads itself: no ramp_s",
        ),
        (
            "mix: {simple: 1}\nslos: {simple: {ttft_p95_ms: null, e2e_p95_ms: null, "
            "error_rate: null, quality_rate_min: null}}\n"
            "stages:\n  - {hold_s: 60, search: {low: 1, high: 8}}\n",
            "stages[0].search: no SLO to judge",
        ),
        (
            "arrival: {mode: open, rate: 1}\nstages:\n  - {hold_s: 60, sweep: {rates: 2}}\n",
            "stages[0].users: missing required field 'users'",
        ),
        (
            "stages:\n  - {users: 2, hold_s: 60, sweep: {rates: 2}}\n",
            "stages[0].sweep: a sweep needs arrival.mode open",
        ),
        (
            "warmup_s: 5\nstages:\n  - {hold_s: 60, search: {low: 1, high: 8}}\n",
            "warmup_s: no warm-up before a search stage",
        ),
    ],
)
def test_search_mistakes_are_one_line(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in _error(tmp_path, "name: s\n" + text)


def test_a_step_rate_replaces_the_scenario_rate() -> None:
    arrival = Arrival(mode="open", rate=1.0, process="constant")
    assert arrival.gap_s(random.Random(0), users=2) == 2.0
    assert arrival.gap_s(random.Random(0), users=2, rate=8.0) == 0.25
