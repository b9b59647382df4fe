"""A test's run directory: opened with its run.json, finalized, closed, named afresh."""

from __future__ import annotations

import json
import time
from pathlib import Path

import gevent
from fake_locust import FakeMaster, fake_state, record

from qi_load.generate.plan import PlannedStage
from qi_load.generate.run_lifecycle import close_run, finalize, open_run, public_url, run_location


def _manifest(path: Path) -> dict[str, object]:
    return dict(json.loads((path / "run.json").read_text()))


def test_public_url_drops_credentials_and_query() -> None:
    assert public_url("http://u:secret@agent:8000/v1?key=k#x") == "http://agent:8000/v1"
    assert public_url("") == ""


def test_the_first_test_uses_the_given_directory_later_ones_fresh_names(tmp_path: Path) -> None:
    given = tmp_path / "run"
    qi = fake_state(run_id="r1", run_dir=str(given))
    assert run_location(qi) == ("r1", given)
    given.mkdir()
    (given / "run.json").write_text("{}")
    qi.runs_opened = 1
    assert run_location(qi) == ("r1-2", tmp_path / "run-2")


def test_a_complete_run(tmp_path: Path) -> None:
    runner = FakeMaster()
    qi = fake_state(runner, host="http://u:pw@agent:1/", run_id="r", run_dir=str(tmp_path / "r"))
    qi.plan = [PlannedStage(0, "one", 1, 0.0, 0.0, 0.5)]
    open_run(qi)
    assert qi.run_dir is not None and qi.active
    # The environment is captured in its own greenlet (a 0.2 s CPU sample): waited for, so it
    # cannot land after the run is closed.
    deadline = time.monotonic() + 5.0
    while "environment" not in _manifest(qi.run_dir.path) and time.monotonic() < deadline:
        gevent.sleep(0.02)
    opened = _manifest(qi.run_dir.path)
    assert (opened["status"], opened["mode"], opened["target_url"]) == (
        "running",
        "master",
        "http://agent:1/",
    )
    qi.t0 = qi.run_dir.read_manifest().start
    qi.record(record())
    qi.completed = True
    finalize(qi)
    closed = _manifest(qi.run_dir.path)
    assert closed["status"] == "complete" and closed["counts"] == {
        "requests": 1,
        "host_samples": 0,
    }
    assert [m["name"] for m in closed["stages"]] == ["one"]  # type: ignore[attr-defined]
    qi.write([record()])  # a worker's last report, after the stop
    close_run(qi, exit_code=0)
    assert _manifest(qi.run_dir.path)["counts"] == {"requests": 2, "host_samples": 0}
    assert qi.writer is None


def test_a_stopped_scenario_is_interrupted_and_a_crash_after_it_failed(tmp_path: Path) -> None:
    qi = fake_state(run_id="", run_dir=str(tmp_path / "r"))
    qi.plan = [PlannedStage(0, "one", 1, 0.0, 0.0, 60.0)]
    open_run(qi)
    finalize(qi)  # before the plan's end
    assert qi.run_dir is not None
    manifest = _manifest(qi.run_dir.path)
    assert (manifest["status"], manifest["interrupted_by"]) == ("interrupted", "stop")
    close_run(qi)

    qi = fake_state(run_id="", run_dir=str(tmp_path / "s"))
    open_run(qi)
    close_run(qi, exit_code=3)
    assert qi.run_dir is not None and _manifest(qi.run_dir.path)["status"] == "failed"
