"""Real runs that go wrong still get a whole report (exit 0): every request refused, and a
Locust process killed with SIGKILL mid-stage."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from qi_cli import agent_locust_command, run_qi_load
from scenario_file import write_scenario

from qi_load.agent.launch import TargetProcess, start_target

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def target() -> Iterator[TargetProcess]:
    with start_target(["--slowdown", "0.3", "--slots", "64"]) as running:
        yield running


def _stages_seen(run_dir: Path) -> set[str]:
    try:
        with (run_dir / "requests.csv").open(newline="") as handle:
            return {row["stage"] for row in csv.DictReader(handle)}
    except (FileNotFoundError, KeyError):
        return set()


def test_killed_locust_leaves_a_directory_the_report_reads(
    target: TargetProcess, tmp_path: Path
) -> None:
    scenario = write_scenario(
        tmp_path,
        "killed",
        [
            {"name": "one", "users": 2, "hold_s": 3},
            {"name": "two", "users": 4, "hold_s": 60},
            {"name": "three", "users": 6, "hold_s": 60},
        ],
    )
    run_dir = tmp_path / "run"
    locust = subprocess.Popen(
        agent_locust_command(
            "--only-summary",
            "-H",
            target.url,
            "--scenario",
            str(scenario),
            "--run-dir",
            str(run_dir),
            "--csv",
            str(run_dir / "locust"),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while "two" not in _stages_seen(run_dir) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "two" in _stages_seen(run_dir), "stage two never started"
        time.sleep(1.5)
    finally:
        locust.kill()  # SIGKILL: nothing closes run.json or the CSVs
        locust.wait(timeout=10)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"

    done = run_qi_load("report", str(run_dir), timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "warning: run status is 'running'" in done.stdout
    assert "1 stage(s) cut short where the data ends, 1 never started" in done.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [s["name"] for s in summary["stages"]] == ["one", "two"]
    assert all(s["overall"]["n"] > 0 for s in summary["stages"])
    assert (run_dir / "report.html").is_file() and (run_dir / "summary.md").is_file()


def test_run_where_every_request_fails_gets_its_report(tmp_path: Path) -> None:
    # A port nobody listens on: the preflight would stop the run, so it is skipped to see
    # what a run whose target fails every request leaves (as when it breaks mid-run).
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    done = run_qi_load(
        "run", "smoke", "--host", url, "--no-preflight", "--time-scale", "0.3",
        "--out", str(tmp_path), "--run-id", "refused", "--progress", "0", timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    run_dir = tmp_path / "refused"
    assert {"report.html", "summary.md", "summary.json"} <= {p.name for p in run_dir.iterdir()}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["overall"]["n"] > 0 and summary["overall"]["n_ok"] == 0
    assert set(summary["overall"]["errors_by_kind"]) == {"connect"}
    assert "no successful requests in this stage" in (run_dir / "summary.md").read_text()
