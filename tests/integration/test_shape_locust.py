"""Real Locust (local, and master + worker) follows ScenarioShape: the users in its stats
history track ``users_at`` within one spawn step, stages start on time, and a one-second
spike stage is not skipped."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from processes import free_port

from qi_load.generate.plan import plan_end_s, stage_plan, users_at
from qi_load.scenario import load_scenario

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

FIXTURE = Path(__file__).parent / "fixtures" / "shape_locustfile.py"
# Written in tenths of the real durations and run with time_scale 0.1: the loader and the
# plan must scale every duration. 14 s in all; 'spike' lasts 1 s and jumps by 12 users.
SCENARIO = """\
name: shape-test
time_scale: 0.1
warmup_s: 10
stages:
  - {name: base, users: 2, hold_s: 20}
  - {name: climb, users: 8, ramp_s: 30, hold_s: 10}
  - {name: spike, users: 20, hold_s: 10}
  - {name: low, users: 1, hold_s: 30}
  - {name: rise, users: 5, ramp_s: 20, hold_s: 10}
"""
LIMIT_S = 60.0


def _locust(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(FIXTURE), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _run(tmp_path: Path, distributed: bool) -> tuple[Path, list[dict[str, Any]]]:
    """Run the fixture headless; return the CSV prefix and the JSON-lines event log."""
    scenario = tmp_path / "shape-test.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    events = tmp_path / "events.jsonl"
    env = {**os.environ, "QI_TEST_SCENARIO": str(scenario), "QI_TEST_LOG": str(events)}
    prefix = tmp_path / "locust"
    common = ["--headless", "-H", "http://127.0.0.1:9", "--loglevel", "WARNING"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if distributed:
            port = free_port()
            procs.append(
                _locust(
                    [
                        *common,
                        "--master",
                        "--master-bind-host",
                        "127.0.0.1",
                        "--master-bind-port",
                        str(port),
                        "--expect-workers",
                        "1",
                        "--csv",
                        str(prefix),
                        "--csv-full-history",
                    ],
                    env,
                    tmp_path / "master.log",
                )
            )
            procs.append(
                _locust(
                    ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                    {**env, "QI_TEST_WORKER": "1"},
                    tmp_path / "worker.log",
                )
            )
        else:
            procs.append(
                _locust(
                    [*common, "--csv", str(prefix), "--csv-full-history"],
                    env,
                    tmp_path / "local.log",
                )
            )
        deadline = time.monotonic() + LIMIT_S
        while procs[0].poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert procs[0].poll() == 0, tmp_path / ("master.log" if distributed else "local.log")
        if distributed:
            procs[1].wait(timeout=15)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    entries = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    return prefix, entries


@pytest.mark.parametrize("distributed", [False, True], ids=["local", "master-worker"])
def test_locust_follows_the_scenario_shape(tmp_path: Path, distributed: bool) -> None:
    prefix, entries = _run(tmp_path, distributed)
    plan = stage_plan(load_scenario(tmp_path / "shape-test.yaml"))
    assert plan_end_s(plan) == pytest.approx(14.0)

    # Every stage, the 1 s spike included, starts when the plan says (to a few tens of ms),
    # on the monotonic clock the shape runs on: the wall clock may be stepped meanwhile.
    stages = [e for e in entries if e["event"] == "stage"]
    assert [e["stage"] for e in stages] == [s.name for s in plan] + [None]
    t0 = stages[0]["perf"]
    for entry, stage in zip(stages, plan, strict=False):
        assert entry["perf"] - t0 == pytest.approx(stage.start_s, abs=0.15), entry
    assert stages[-1]["perf"] - t0 == pytest.approx(plan_end_s(plan), abs=0.15)

    # Locust really reached the spike's 20 users, inside the spike.
    spike = next(s for s in plan if s.name == "spike")
    reached = [e for e in entries if e["event"] == "spawned" and e["users"] == 20]
    assert reached, entries
    assert spike.start_s <= reached[0]["perf"] - t0 < spike.end_s

    # Locust stamps its stats history with the wall clock: it is on the plan's time line
    # only while the wall clock kept pace with the monotonic one.
    offsets = [e["wall"] - e["perf"] for e in entries]
    if max(offsets) - min(offsets) > 0.5:
        pytest.skip(f"the host's wall clock stepped by {max(offsets) - min(offsets):.1f} s")
    t0 = stages[0]["wall"]

    # The stats history: one row per second with Locust's running user count. A row stamped
    # int(now) was written somewhere in [ts, ts + 1); the count may trail the plan by one
    # spawn step, i.e. one tick of the shape (plus, with workers, their next report).
    lag = 1.0 + (1.0 if distributed else 0.2)
    rows = []
    with open(f"{prefix}_stats_history.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["Name"] == "Aggregated":
                rows.append((int(row["Timestamp"]) - t0, int(row["User Count"])))
    inside = [(t, users) for t, users in rows if t >= 0 and t + 1 <= plan_end_s(plan)]
    assert len(inside) >= 10, rows
    for t, users in inside:
        probes = [t - lag + k * 0.05 for k in range(int((1 + lag) / 0.05) + 1)]
        allowed = [users_at(plan, p) for p in probes]
        assert min(allowed) <= users <= max(allowed), (t, users, allowed, rows)
