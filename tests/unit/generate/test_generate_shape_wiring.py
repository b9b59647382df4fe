"""The shape in Locust: dropped without a scenario; stage changes set the plan's origin."""

from __future__ import annotations

from typing import Any

from fake_locust import FakeMaster, fake_state

from qi_load.generate.plan import PlannedStage
from qi_load.generate.shape_wiring import QiShape, configure_shape, drop_shape, on_sequence_done
from qi_load.generate.wire import PLAN_MESSAGE
from qi_load.record.record_gate import RecordGate

PLAN = [PlannedStage(0, "one", 1, 0.0, 0.0, 5.0), PlannedStage(1, "two", 2, 5.0, 5.0, 9.0)]


class _Msg:
    type = "qi_sequence_done"
    data: Any = {"stage": "two"}

    def __init__(self, node_id: str = "w1") -> None:
        self.node_id = node_id


def test_without_a_scenario_the_shape_goes() -> None:
    qi = fake_state()
    shape = QiShape()
    env: Any = qi.environment
    env.shape_class, env.available_shape_classes = shape, {"QiShape": shape}
    drop_shape(qi.environment)
    assert qi.environment.shape_class is None and env.available_shape_classes == {}


def test_stage_changes_set_the_origin_broadcast_the_plan_and_end_the_run() -> None:
    runner = FakeMaster()
    qi = fake_state(runner)
    qi.plan = PLAN
    shape = QiShape()
    env: Any = qi.environment
    env.shape_class = shape
    configure_shape(qi)
    assert shape.on_stage_change is not None
    shape.on_stage_change(PLAN[0], shape.t0_wall)
    assert qi.t0 == shape.t0_wall and not qi.completed
    assert [t for t, _, _ in runner.sent] == [PLAN_MESSAGE]
    shape.on_stage_change(PLAN[1], shape.t0_wall + 5)
    assert len(runner.sent) == 1  # the origin is set once per test
    shape.on_stage_change(None, shape.t0_wall + 9)
    assert qi.completed

    runner.clients["w1"] = object()
    qi.record_gate = RecordGate(None, runner.clients.__contains__)
    on_sequence_done(qi.environment, _Msg("rogue"))  # not a worker: nothing ends
    assert shape.tick() is not None
    on_sequence_done(qi.environment, _Msg())  # the last stage's sequence: the shape ends
    assert shape.tick() is None
