"""Agent and MCP users take everything per run from the environment's state."""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
from fake_locust import record
from gevent import GreenletExit
from locust.env import Environment

from qi_load.generate.chat import ChatResult
from qi_load.generate.clock import RunClock
from qi_load.generate.mcp_users import McpUser
from qi_load.generate.options import LoadOptions
from qi_load.generate.plan import PlannedStage
from qi_load.generate.run_state import QiState, attach_state
from qi_load.generate.users import (
    AgentUser,
    cancellation_recorded,
    first_start_delay_s,
    record_from_result,
    report_record,
)
from qi_load.scenario import Scenario


class _Agent(AgentUser):
    host = "http://127.0.0.1:9"  # Locust's runner sets it from -H when it spawns


class _Mcp(McpUser):
    host = "http://127.0.0.1:9"


@pytest.fixture
def run() -> Iterator[tuple[Environment, QiState]]:
    env = Environment(user_classes=[_Agent], parsed_options=argparse.Namespace())
    qi = QiState(environment=env)
    attach_state(env, qi)
    yield env, qi


def test_users_number_themselves_and_share_the_catalogue_per_run(
    run: tuple[Environment, QiState],
) -> None:
    env, qi = run
    users = [_Agent(env), _Agent(env), _Mcp(env)]
    try:
        assert [u.user_id for u in users] == [1, 2, 3]
        assert users[0].catalogue is users[1].catalogue is qi.catalogue
    finally:
        for user in users:
            user.on_stop()


def test_the_mix_of_the_stage_in_force_is_drawn_from(run: tuple[Environment, QiState]) -> None:
    env, qi = run
    stage = PlannedStage(0, "one", 1, 0.0, 0.0, 9.0, mix={"reasoning": 1.0, "simple": 0.0})
    user = _Agent(env)
    try:
        assert {user._pick_type(stage) for _ in range(20)} == {"reasoning"}
        assert list(qi.mix_tables.values()) == [(["reasoning"], [1.0])]
    finally:
        user.on_stop()


def test_one_locust_event_per_record_and_the_record_handed_over(
    run: tuple[Environment, QiState],
) -> None:
    env, qi = run
    qi.options = LoadOptions(quality="enforce")
    fired: list[dict[str, Any]] = []
    env.events.request.add_listener(lambda **kw: fired.append(kw))
    report_record(env, qi, record(e2e_ms=12.0, quality_ok=False, error="wrong answer"))
    assert [(f["name"], f["response_time"]) for f in fired] == [("simple", 12.0)]
    assert fired[0]["exception"] is not None  # enforce: a wrong answer fails in Locust too
    assert len(qi.buffer) == 1


def test_a_request_cut_short_is_a_cancelled_row(run: tuple[Environment, QiState]) -> None:
    _, qi = run
    with (
        pytest.raises(GreenletExit),
        cancellation_recorded(qi, user_id=3, query_type="simple", name="simple"),
    ):
        raise GreenletExit
    (row,) = qi.buffer.drain()
    assert (row.user_id, row.ok, row.error_kind) == (3, False, "cancelled")
    assert row.e2e_ms is not None


def test_a_served_wrong_answer_is_ok_with_a_failed_check() -> None:
    result = ChatResult(ok=True, wall_send=5.0, status_code=200, output_tokens=4)
    row = record_from_result(
        result,
        worker="w",
        user_id=1,
        query_type="simple",
        name="simple",
        stage="one",
        users=2,
        quality_ok=False,
    )
    assert (row.ok, row.error_kind, row.quality_ok, row.ts_sched) == (True, "none", False, 5.0)


def test_a_users_wall_times_are_on_the_master_time_line(run: tuple[Environment, QiState]) -> None:
    env, qi = run
    qi.clock = RunClock(offset_s=100.0)  # a worker whose clock is 100 s behind the master's
    user = _Agent(env)
    try:
        assert user._next_sched == pytest.approx(time.time() + 100.0, abs=1.0)
        with (
            pytest.raises(GreenletExit),
            cancellation_recorded(qi, user_id=1, query_type="simple", name="simple"),
        ):
            raise GreenletExit
        (row,) = qi.buffer.drain()
        assert row.ts_start == pytest.approx(time.time() + 100.0, abs=1.0)
    finally:
        user.on_stop()


def test_evenly_spaced_open_loop_users_start_at_random_points_of_their_gap(
    run: tuple[Environment, QiState], monkeypatch: pytest.MonkeyPatch
) -> None:
    env, qi = run
    qi.scenario = Scenario.model_validate(
        {
            "name": "open",
            "stages": [{"name": "one", "users": 1, "hold_s": 5}],
            "arrival": {"mode": "open", "rate": 200, "process": "constant"},
        }
    )
    real_sleep = gevent.sleep
    slept: list[float] = []

    def sleep(seconds: float = 0) -> None:
        slept.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(gevent, "sleep", sleep)
    offsets = []
    for _ in range(5):
        user = _Agent(env)
        started = time.time()
        user.on_start()  # one user of 200 requests/s: a gap of 5 ms
        offsets.append(user._next_sched - started)
        user.on_stop()
    # The waits asked for are checked, not the waits measured: a busy host may wake a user
    # late (a 30 ms allowance for that failed here), and a gap of 5 ms keeps the test quick.
    assert len(slept) == 5 and all(0.0 <= wait < 0.005 for wait in slept), slept
    assert max(slept) > 0.0005, slept  # not all at once (all five below: p = 1e-5)
    # Each user's schedule starts once its wait is over.
    assert all(o >= wait - 1e-3 for o, wait in zip(offsets, slept, strict=True)), offsets


def test_steps_without_think_time_start_their_users_within_the_spawn_second() -> None:
    sweep = Scenario.model_validate(
        {
            "name": "sweep",
            "stages": [{"users": 4, "hold_s": 16, "sweep": {"rates": 2}}],
            "arrival": {"mode": "open", "rate": 1},
        }
    )
    rng = random.Random(0)
    throughput = PlannedStage(1, "sweep-2", 4, 4.0, 4.0, 8.0, no_think=True)
    # At the scenario's 1 request/s, 4 users' first gaps average 4 s: a whole 4 s step.
    gaps = [first_start_delay_s(sweep, None, rng, 4) for _ in range(400)]
    assert sum(gaps) / len(gaps) == pytest.approx(4.0, rel=0.2)
    delays = [first_start_delay_s(sweep, throughput, rng, 4) for _ in range(400)]
    assert all(0.0 <= d < 1.0 for d in delays) and max(delays) > 0.9
    # A step's own rate sets an open loop's first gap: 4 users at 40 requests/s, 0.1 s.
    rated = PlannedStage(2, "sweep-3", 4, 8.0, 8.0, 12.0, rate=40.0)
    gaps = [first_start_delay_s(sweep, rated, rng, 4) for _ in range(400)]
    assert sum(gaps) / len(gaps) == pytest.approx(0.1, rel=0.2)
