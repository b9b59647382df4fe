"""The scenario and its stage plan cross the process boundary unchanged."""

from __future__ import annotations

import json

from qi_load.generate.plan import PlannedStage
from qi_load.generate.wire import plan_from_wire, plan_to_wire
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
