"""A Locust process whose host's wall clock steps 30 s forward, and one whose clock steps
30 s back, in the middle of a run, keep to their plan: every stage gets its requests, each
stage mark is where the plan put it, every row is dated inside the run, and run.json and the
report say how far the host's clock was stepped.

The step is real for the whole process: ``wall_step/sitecustomize.py`` moves ``time.time()``
for everything in it (Locust too) once the test creates a trigger file, during the first
compared stage. An open loop at a constant rate makes a stage's count rate x length,
whatever the agent's latency. Read directly, the clock would end the plan 30 s early
after a forward step (users idle, nothing in the next stage) and stall every schedule
30 s after a backward one."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import Locust, request_rows, run_manifest, wait_for
from scenario_file import write_scenario

from qi_load.agent.launch import TargetProcess, start_target
from qi_load.analyze.load import load_run
from qi_load.analyze.summary import analyze_run

pytestmark = pytest.mark.integration

STEP_S = 30.0
RATE = 20.0
USERS = 4  # each starts a request every 0.2 s, far above the agent's latency
STAGE_S = 3.0
STAGES = ("a", "b")
WARMUP_S = 2.0
SITE = Path(__file__).with_name("wall_step")


@pytest.fixture(scope="module")
def target() -> Iterator[TargetProcess]:
    with start_target(["--slots", "32", "--timing", "all=5,1,4"]) as running:
        yield running


def test_a_stepped_wall_clock_moves_no_stage(
    target: TargetProcess, tmp_path: Path, locusts: list[Locust]
) -> None:
    scenario = write_scenario(
        tmp_path,
        "step",
        [
            *({"name": name, "users": USERS, "hold_s": STAGE_S} for name in STAGES),
            {"name": "tail", "users": USERS, "hold_s": 1.0},
        ],
        warmup_s=WARMUP_S,
        mix={"simple": 1.0},
        arrival={"mode": "open", "rate": RATE, "process": "constant"},
    )
    trigger = tmp_path / "step-now"
    steps = {"forward": STEP_S, "back": -STEP_S}
    for name, step in steps.items():
        env = {
            "PYTHONPATH": str(SITE),
            "QI_TEST_WALL_STEP_FILE": str(trigger),
            "QI_TEST_WALL_STEP_S": str(step),
        }
        args = ["--headless", "-H", target.url, "--scenario", str(scenario), "--no-preflight"]
        locusts.append(
            Locust([*args, "--run-dir", str(tmp_path / name)], tmp_path / f"{name}.log", env=env)
        )
    # Step both clocks a second into stage "a" of the slower process to get there.
    for name in steps:
        wait_for(
            f"{name}: stage a's first request",
            lambda name=name: any(r["stage"] == "a" for r in request_rows(tmp_path / name)),
            timeout=60,
            logs=[tmp_path / f"{n}.log" for n in steps],
        )
    time.sleep(1.0)
    trigger.touch()
    for process in locusts:
        assert process.wait(timeout=90) == 0, process.output()[-3000:]

    for name in steps:
        manifest = run_manifest(tmp_path / name)
        rows = request_rows(tmp_path / name)
        assert manifest["status"] == "complete", name
        assert manifest["clock_step_s"] == pytest.approx(steps[name], abs=0.5), name
        marks = {s["name"]: s for s in manifest["stages"]}
        for stage in STAGES:
            length = marks[stage]["end"] - marks[stage]["start"]
            assert length == pytest.approx(STAGE_S, abs=0.5), (name, marks)
        tags = Counter(r["stage"] for r in rows)
        for stage in STAGES:
            assert tags[stage] == pytest.approx(RATE * STAGE_S, rel=0.2), (name, tags)
        for row in rows:
            ts = float(row["ts_start"])
            assert manifest["start"] <= ts <= manifest["end"] + 1.0, (name, row)
        # The run lasted its plan (and Locust's start-up), not the plan plus or minus 30 s.
        assert 0 < manifest["end"] - manifest["start"] < WARMUP_S + 2 * STAGE_S + 10.0, name
        warnings = analyze_run(load_run(tmp_path / name))["warnings"]
        assert any(f"wall clock was stepped {steps[name]:+.0f}" in w for w in warnings), warnings
    for log in tmp_path.glob("*.log"):
        assert "Traceback" not in log.read_text(), log.name
