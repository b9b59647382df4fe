"""kill -9 of one of two Locust workers mid-stage: its users are back on the other within 5 s,
or the stage is marked invalid with the users that really ran; the rows agree with it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import Locust, most_in_flight, request_rows, start_cluster
from scenario_file import write_scenario

from qi_load.agent.launch import TargetProcess, start_target
from qi_load.generate.worker_loss import USERS_BACK_S

pytestmark = pytest.mark.integration

USERS = 6


@pytest.fixture(scope="module")
def target() -> Iterator[TargetProcess]:
    with start_target(["--slots", "64"]) as running:
        yield running


def test_kill_9_of_a_worker_users_back_or_stage_invalid(
    target: TargetProcess, tmp_path: Path, locusts: list[Locust]
) -> None:
    scenario = write_scenario(tmp_path, "loss", [{"name": "hold", "users": USERS, "hold_s": 25}])
    run_dir = tmp_path / "run"
    master, workers = start_cluster(
        ["-H", target.url, "--scenario", str(scenario), "--no-preflight"],
        ["--run-dir", str(run_dir)],
        tmp_path,
    )
    locusts.extend([master, *workers])
    deadline = time.monotonic() + 90
    while len({r["worker"] for r in request_rows(run_dir) if r["stage"] == "hold"}) < 2:
        running = master.process.poll() is None
        assert time.monotonic() < deadline and running, "workers never both ran"
        time.sleep(0.2)
    time.sleep(3)  # well inside the stage
    killed_at = time.time()
    workers[0].kill()
    assert master.wait(timeout=120) == 0, (tmp_path / "master.log").read_text()[-3000:]
    manifest: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "complete"
    lost = manifest["lost_workers"]
    assert len(lost) == 1 and lost[0]["reason"] == "heartbeat"
    dead = lost[0]["id"]
    rows = request_rows(run_dir)
    assert not [r for r in rows if r["worker"] == dead and float(r["ts_start"]) > killed_at]
    stage = next(s for s in manifest["stages"] if s["name"] == "hold")
    survivor = [r for r in rows if r["worker"] != dead and float(r["ts_start"]) > killed_at]
    if stage["invalid"]:
        # Not back in time: the stage says how many users really ran, and so do the rows.
        assert f"of {USERS} users ran" in stage["invalid"], stage["invalid"]
        assert any(int(r["users"]) < USERS for r in survivor)
    else:
        # Back in time: the survivor runs all the users from USERS_BACK_S after the kill on.
        late = [r for r in survivor if float(r["ts_start"]) > killed_at + USERS_BACK_S + 1]
        assert late and all(int(r["users"]) == USERS for r in late)
        # More requests in flight at once than the survivor's own half of the users.
        assert most_in_flight(late) > USERS // 2
    for log in (tmp_path / "master.log", tmp_path / "worker-1.log"):
        assert "Traceback" not in log.read_text()
