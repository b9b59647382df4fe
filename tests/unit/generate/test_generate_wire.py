"""The scenario and its stage plan cross the process boundary unchanged; clock messages
from the network are checked."""

from __future__ import annotations

import json
import math

from qi_load.generate.clock_estimate import ClockEstimate, ClockSample
from qi_load.generate.plan import PlannedStage
from qi_load.generate.wire import (
    ping_from_wire,
    plan_from_wire,
    plan_to_wire,
    pong_from_wire,
    report_from_wire,
    report_to_wire,
)
from qi_load.scenario import resolve_scenario


def test_a_plan_survives_its_wire_form() -> None:
    plan = [
        PlannedStage(0, "warmup", 2, 0.0, 1.0, 5.0, mix={"simple": 1.0}),
        PlannedStage(1, "steady", 4, 5.0, 6.0, 20.0, start_users=2, sequence_per_type=3),
    ]
    scenario = resolve_scenario("smoke", {"time_scale": 0.5}).scaled()
    message = json.loads(json.dumps(plan_to_wire(12.5, plan, scenario)))  # as msgpack would
    assert plan_from_wire(message) == (12.5, plan, scenario)
    assert plan_from_wire(plan_to_wire(1.0, [], None)) == (1.0, [], None)


def test_clock_messages_from_the_network_are_checked() -> None:
    assert ping_from_wire({"seq": 3, "t1": 5}) == {"seq": 3, "t1": 5.0}
    for bad in (None, [], {"seq": 1}, {"seq": "1", "t1": 1.0}, {"seq": 1, "t1": math.inf}):
        assert ping_from_wire(bad) is None
    pong = {"seq": 2, "t1": 1.0, "t2": 3.0, "t3": 3.5}
    assert pong_from_wire(pong, 2.0) == (2, ClockSample(t1=1.0, t2=3.0, t3=3.5, t4=2.0))
    assert pong_from_wire({**pong, "t3": None}, 2.0) is None
    assert pong_from_wire({**pong, "seq": False}, 2.0) is None
    report = report_to_wire(ClockEstimate(offset_s=-2.0, delay_s=0.001, samples=8))
    assert report_from_wire(json.loads(json.dumps(report))) == report
    for bad_report in ({**report, "samples": 0}, {**report, "delay_ms": -1.0}, "x"):
        assert report_from_wire(bad_report) is None
