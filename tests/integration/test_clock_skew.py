"""Workers whose clocks are 2 s ahead and 2 s behind the master's (the documented test hook
``QI_LOAD_TEST_CLOCK_SKEW_S``) tag the same stages with the same per-stage request counts as
workers in sync, and run.json records each worker's measured offset.

Two real clusters (a master and two workers each, over ZeroMQ) run side by side against one
reference agent: an open loop at a constant rate, so a stage's count is rate x length and
does not depend on how fast the agent answers. The counts must agree within 1 %, plus what
a crowded machine did to the schedule, measured from each row's scheduled time: requests
sent so late that they crossed a stage boundary, or never sent before the run ended."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import Locust, start_cluster
from scenario_file import write_scenario

from qi_load.agent.launch import TargetProcess, start_target
from qi_load.generate.clock import SKEW_ENV

pytestmark = pytest.mark.integration

SKEW_S = 2.0
RATE = 40.0
USERS = 12  # 6 per worker: each starts a request every USERS / RATE = 0.3 s, well above
# the agent's latency on a busy machine, so a user keeps to its schedule
STAGE_S = 3.0  # a whole number of those gaps: 10 per user, however the users are phased
STAGES = ("a", "b")
TAIL_S = 2.0
"""A last stage not compared: the records of a run's last second may miss the master's
shutdown (the workers' final report races it), and that is not what this test is about."""
OFFSET_TOLERANCE_MS = 50.0
BOUNDARY_S = 0.001
"""A request sent this close to a stage boundary may fall either side of it (float sums)."""


@pytest.fixture(scope="module")
def target() -> Iterator[TargetProcess]:
    with start_target(["--slots", "64", "--timing", "all=5,1,4"]) as running:
        yield running


def _cluster(
    name: str, skews: tuple[float, float], scenario: Path, url: str, directory: Path
) -> list[Locust]:
    master, workers = start_cluster(
        ["-H", url, "--scenario", str(scenario), "--no-preflight"],
        ["--run-dir", str(directory / name)],
        directory,
        # Only the workers' clocks are skewed (an empty value reads as none).
        worker_envs=[{SKEW_ENV: str(skew)} for skew in skews],
        master_env={SKEW_ENV: ""},
        prefix=f"{name}-",
    )
    return [master, *workers]


def _stage_at(stages: list[dict[str, Any]], ts: float) -> str:
    """The stage run.json (the master's clock) places ``ts`` in; "" outside the plan."""
    return next((str(s["name"]) for s in stages if s["start"] <= ts < s["end"]), "")


def _near_boundary(stages: list[dict[str, Any]], ts: float) -> bool:
    return any(abs(ts - s[edge]) < BOUNDARY_S for s in stages for edge in ("start", "end"))


def _read(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, str]]]:
    manifest: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    with (run_dir / "requests.csv").open(newline="") as handle:
        return manifest, list(csv.DictReader(handle))


def _check_on_master_time_line(manifest: dict[str, Any], rows: list[dict[str, str]]) -> None:
    """Every row's tag is the stage its send time falls in on the master's clock, and no send
    time lies outside the test: no user ran before the master started the plan (a worker 2 s
    behind would date its first requests before it), none long after the master stopped
    (one 2 s ahead would date its last ones 2 s late; a busy worker gets the quit late)."""
    stages = manifest["stages"]
    for row in rows:
        ts = float(row["ts_start"])
        assert manifest["test_start"] - 0.02 < ts < manifest["end"] + 1.5, row
        assert _near_boundary(stages, ts) or row["stage"] == _stage_at(stages, ts), (row, stages)


def _late_across(manifest: dict[str, Any], rows: list[dict[str, str]], stage: str) -> int:
    """Rows of ``stage`` a crowded machine moved: scheduled on one side of one of its
    boundaries, sent late on the other (skew has no part in it: both times are the worker's)."""
    stages = manifest["stages"]
    return sum(
        1
        for r in rows
        if (r["stage"] == stage) != (_stage_at(stages, float(r["ts_sched"])) == stage)
    )


def test_skewed_workers_tag_and_count_as_workers_in_sync(
    target: TargetProcess, tmp_path: Path, locusts: list[Locust]
) -> None:
    scenario = write_scenario(
        tmp_path,
        "skew",
        [
            *({"name": name, "users": USERS, "hold_s": STAGE_S} for name in STAGES),
            {"name": "tail", "users": USERS, "hold_s": TAIL_S},
        ],
        warmup_s=3.0,  # Locust takes a second or two to start the users on a busy machine
        mix={"simple": 1.0},
        arrival={"mode": "open", "rate": RATE, "process": "constant"},
    )
    clusters = {"sync": (0.0, 0.0), "skewed": (SKEW_S, -SKEW_S)}
    for name, skews in clusters.items():
        locusts.extend(_cluster(name, skews, scenario, target.url, tmp_path))
    for process, log in zip(locusts[::3], clusters, strict=True):
        assert process.wait(timeout=120) == 0, (tmp_path / f"{log}-master.log").read_text()[-3000:]

    counts: dict[str, dict[str, int]] = {}
    late: dict[str, dict[str, int]] = {}
    scheduled: dict[str, dict[str, int]] = {}
    for name, skews in clusters.items():
        manifest, rows = _read(tmp_path / name)
        assert manifest["status"] == "complete"
        offsets = sorted(w["clock"]["offset_ms"] for w in manifest["workers"])
        expected = sorted(-skew * 1000.0 for skew in skews)
        assert offsets == pytest.approx(expected, abs=OFFSET_TOLERANCE_MS), manifest["workers"]
        assert len({r["worker"] for r in rows}) == 2
        _check_on_master_time_line(manifest, rows)
        tags = Counter(r["stage"] for r in rows)
        counts[name] = {stage: tags[stage] for stage in STAGES}
        late[name] = {stage: _late_across(manifest, rows, stage) for stage in STAGES}
        planned = Counter(_stage_at(manifest["stages"], float(r["ts_sched"])) for r in rows)
        scheduled[name] = {stage: planned[stage] for stage in STAGES}
        for stage in STAGES:  # the load ran (a user far behind its schedule sends less)
            assert planned[stage] == pytest.approx(RATE * STAGE_S, rel=0.2), planned

    for stage in STAGES:
        sync, skewed = counts["sync"][stage], counts["skewed"][stage]
        # What the machine did, not the clocks: requests sent so late they crossed a stage
        # boundary or were never sent (a user behind its schedule when the run ended).
        moved = late["sync"][stage] + late["skewed"][stage]
        unsent = abs(scheduled["sync"][stage] - scheduled["skewed"][stage])
        assert abs(skewed - sync) <= 0.01 * sync + moved + unsent, (counts, late, scheduled)
    for log in tmp_path.glob("*.log"):
        assert "Traceback" not in log.read_text(), log.name
