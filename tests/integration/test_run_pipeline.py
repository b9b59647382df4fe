"""End to end: qi-load run and plain Locust against the real reference agent, local and
master + workers over ZeroMQ, with interruption and a killed worker."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from processes import run_manifest, wait_for
from qi_cli import agent_locust_command, qi_load_command
from scenario_file import write_scenario

from qi_load.agent.launch import TargetProcess, start_target
from qi_load.monitor.saturation import DEFAULT_THRESHOLD_PCT

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
QUERY_TYPES = ("simple", "code_generation", "file_operations", "multi_tool", "reasoning")


@pytest.fixture(scope="module")
def target() -> Iterator[TargetProcess]:
    # Faster than the defaults so short runs still see every query type several times.
    with start_target(["--slowdown", "0.3", "--slots", "64"]) as running:
        yield running


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _run_scenario(
    scenario: Path, target: TargetProcess, out: Path, *extra: str, timeout: float
) -> tuple[Path, str]:
    """``qi-load run SCENARIO --host TARGET --out OUT EXTRA…``: it must succeed."""
    done = subprocess.run(
        qi_load_command("run", str(scenario), "--host", target.url, "--out", str(out), *extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return next(p for p in out.iterdir() if p.is_dir()), done.stdout


def _rows(run_dir: Path) -> list[dict[str, str]]:
    return _csv(run_dir / "requests.csv")


def _locust_request_count(run_dir: Path) -> int:
    """Requests Locust counted: one entry per finished request (its Aggregated line)."""
    final = run_dir / "locust_final.json"
    if final.exists():  # written at shutdown, after the last request (qi-load run)
        return sum(e["num_requests"] for e in json.loads(final.read_text()))
    with (run_dir / "locust_stats.csv").open(newline="") as handle:
        return sum(
            int(row["Request Count"])
            for row in csv.DictReader(handle)
            if row["Name"] != "Aggregated"
        )


def _finished(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The rows Locust counts too: all but the requests cancelled in flight at the end."""
    return [r for r in rows if r["error_kind"] != "cancelled"]


def _assert_stages_match(rows: list[dict[str, str]], manifest: dict[str, Any]) -> None:
    stages = manifest["stages"]
    for row in rows:
        start = float(row["ts_start"])
        if row["error_kind"] == "cancelled" and start >= stages[-1]["end"]:
            # Started on a worker between the plan's end and the master's quit reaching it.
            assert row["stage"] == ""
            continue
        expected = [s["name"] for s in stages if s["start"] <= start < s["end"]]
        assert expected == [row["stage"]], (row["stage"], expected, start)


def _assert_no_duplicates(rows: list[dict[str, str]]) -> None:
    keys = Counter((r["worker"], r["user_id"], r["ts_start"]) for r in rows)
    assert max(keys.values()) == 1


def test_local_run_writes_a_complete_run_directory(target: TargetProcess, tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path,
        "local",
        [{"name": "one", "users": 2, "hold_s": 6}, {"name": "two", "users": 4, "hold_s": 8}],
        # A conversation goes on when its user draws `conversation` again: at twice the
        # weight and ~60 requests, some user surely does, and every type still comes up.
        mix={**dict.fromkeys(QUERY_TYPES, 1), "conversation": 2},
    )
    run_dir, stdout = _run_scenario(scenario, target, tmp_path, timeout=120)
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "complete"
    assert [s["name"] for s in manifest["stages"]] == ["one", "two"]
    assert manifest["environment"]["cores_logical"] >= 1
    rows = _rows(run_dir)
    assert len(rows) == manifest["counts"]["requests"]
    assert len(_finished(rows)) == _locust_request_count(run_dir)
    _assert_no_duplicates(rows)
    _assert_stages_match(rows, manifest)
    assert {r["query_type"] for r in rows} >= {*QUERY_TYPES, "conversation"}
    failed = [r for r in _finished(rows) if r["ok"] != "true"]
    assert not failed, failed[:3]
    assert any(int(r["turn"]) >= 2 for r in rows if r["query_type"] == "conversation")
    assert (run_dir / "report.html").exists() and (run_dir / "summary.json").exists()
    assert "[qi-load] stage" in stdout and "report" in stdout
    roles = {row["role"] for row in _csv(run_dir / "host_samples.csv")}
    assert roles == {"local"}  # --host given: no embedded agent to sample


def test_plain_locust_does_the_same_run(target: TargetProcess, tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path,
        "plain",
        [{"name": "one", "users": 1, "hold_s": 3}, {"name": "two", "users": 3, "hold_s": 3}],
    )
    run_dir = tmp_path / "run"
    done = subprocess.run(
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
            # Locust's CSVs are rewritten every second and may miss the last requests;
            # its JSON file is written at shutdown (qi-load run passes it too).
            "--json-file",
            str(run_dir / "locust_final"),
        ),
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "complete"
    assert [(s["name"], s["users"]) for s in manifest["stages"]] == [("one", 1), ("two", 3)]
    rows = _rows(run_dir)
    assert rows and len(_finished(rows)) == _locust_request_count(run_dir)
    _assert_stages_match(rows, manifest)


def test_master_and_two_workers_record_every_request_once(
    target: TargetProcess, tmp_path: Path
) -> None:
    scenario = write_scenario(
        tmp_path,
        "distributed",
        [
            {"name": "low", "users": 2, "hold_s": 10},
            {"name": "mid", "users": 4, "ramp_s": 2, "hold_s": 8},
            {"name": "high", "users": 6, "ramp_s": 2, "hold_s": 8},
        ],
    )
    run_dir, _ = _run_scenario(
        scenario, target, tmp_path, "--workers", "2", "--no-report", timeout=150
    )
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["mode"] == "master"
    rows = _rows(run_dir)
    assert len(rows) == manifest["counts"]["requests"]
    assert len(_finished(rows)) == _locust_request_count(run_dir)
    _assert_no_duplicates(rows)
    _assert_stages_match(rows, manifest)
    worker_ids = {w["id"] for w in manifest["workers"]}
    assert len(worker_ids) == 2
    assert {r["worker"] for r in rows} == worker_ids
    roles = Counter(row["role"] for row in _csv(run_dir / "host_samples.csv"))
    assert roles["master"] > 0 and roles["worker"] > 0


def _children_with(parent: psutil.Process, marker: str) -> list[psutil.Process]:
    return [p for p in parent.children(recursive=True) if marker in " ".join(p.cmdline())]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_stage_stops_cleanly(
    target: TargetProcess, tmp_path: Path, signum: signal.Signals
) -> None:
    scenario = write_scenario(
        tmp_path,
        "interrupted",
        [{"name": "one", "users": 3, "hold_s": 5}, {"name": "two", "users": 5, "hold_s": 60}],
    )
    process = subprocess.Popen(
        qi_load_command("run", str(scenario), "--host", target.url, "--out", str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for("the run directory", lambda: any(p.is_dir() for p in tmp_path.iterdir()), 30)
        run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())

        def in_stage_two() -> bool:
            try:
                return any(r["stage"] == "two" for r in _rows(run_dir))
            except (FileNotFoundError, KeyError):
                return False

        wait_for("stage two", in_stage_two, 40)
        signalled = time.time()
        process.send_signal(signum)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert time.time() - signalled < 15
    assert process.returncode == 130, output
    assert "Traceback" not in output
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["interrupted_by"] == signum.name
    rows = _rows(run_dir)
    assert len(_finished(rows)) == _locust_request_count(run_dir)
    assert any(r["error_kind"] == "cancelled" for r in rows)
    # A user may start one more request while the signal travels to the Locust master.
    assert all(float(r["ts_start"]) < signalled + 1 for r in rows)
    assert manifest["stages"][-1]["end"] <= manifest["end"]


def test_killed_worker_is_recorded_and_the_run_goes_on(
    target: TargetProcess, tmp_path: Path
) -> None:
    scenario = write_scenario(
        tmp_path,
        "worker-loss",
        [{"name": "steady", "users": 6, "ramp_s": 2, "hold_s": 24}],
    )
    process = subprocess.Popen(
        qi_load_command(
            "run",
            str(scenario),
            "--host",
            target.url,
            "--out",
            str(tmp_path),
            "--workers",
            "2",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        runner = psutil.Process(process.pid)
        wait_for("2 workers", lambda: len(_children_with(runner, "--worker")) == 2, 30)
        wait_for("the run directory", lambda: any(p.is_dir() for p in tmp_path.iterdir()), 30)
        run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
        wait_for("the test start", lambda: "test_start" in run_manifest(run_dir), 30)
        time.sleep(6)
        victim = _children_with(runner, "--worker")[0]
        killed_at = time.time()
        os.kill(victim.pid, signal.SIGKILL)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "complete"
    assert len(manifest["lost_workers"]) == 1
    lost = manifest["lost_workers"][0]
    assert killed_at <= lost["at"] <= killed_at + 10
    rows = _rows(run_dir)
    # Records ride on the same reports as Locust's stats: what Locust counted is all here.
    assert len(_finished(rows)) == _locust_request_count(run_dir)
    _assert_no_duplicates(rows)
    by_worker = Counter(r["worker"] for r in rows)
    assert by_worker[lost["id"]] > 0
    assert max(float(r["ts_start"]) for r in rows if r["worker"] == lost["id"]) < killed_at
    survivors = [r for r in rows if r["worker"] != lost["id"]]
    assert max(float(r["ts_start"]) for r in survivors) > killed_at + 12
    summary = json.loads((run_dir / "summary.json").read_text())
    assert lost["id"] in json.dumps(summary)
    assert lost["id"] in (run_dir / "report.html").read_text()


def test_mcp_users_pass_against_the_reference_agent(target: TargetProcess, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, "mcp", [{"name": "mcp", "users": 2, "hold_s": 5}])
    run_dir, _ = _run_scenario(
        scenario,
        target,
        tmp_path,
        "--locustfile",
        str(ROOT / "locustfiles" / "mcp.py"),
        "--no-report",
        timeout=90,
    )
    rows = _finished(_rows(run_dir))
    names = {r["name"] for r in rows}
    assert {"initialize", "tools/list", "tools/call:get_weather"} <= names
    assert {"tools/call:create_calendar_event"} <= names
    assert all(r["ok"] == "true" and r["query_type"] == "mcp" for r in rows)


def test_open_loop_shows_a_backlog_as_schedule_delay(target: TargetProcess, tmp_path: Path) -> None:
    # 10 req/s over 4 users: short `simple` answers keep up; ~1 s `reasoning` answers cannot
    # (4 users can finish at most ~4 per second), so their schedule slips further and further.
    scenario = write_scenario(
        tmp_path,
        "open",
        [
            {"name": "keep", "users": 4, "hold_s": 6, "mix": {"simple": 1}},
            {"name": "behind", "users": 4, "hold_s": 6, "mix": {"reasoning": 1}},
        ],
        arrival={"mode": "open", "rate": 10, "process": "constant"},
        think_time={"kind": "none"},
    )
    run_dir, _ = _run_scenario(scenario, target, tmp_path, "--no-report", timeout=90)
    rows = _rows(run_dir)
    delays = {
        stage: sorted(
            (float(r["ts_start"]), float(r["ts_start"]) - float(r["ts_sched"]))
            for r in rows
            if r["stage"] == stage
        )
        for stage in ("keep", "behind")
    }
    assert all(delay >= 0 for stage in delays.values() for _, delay in stage)
    keep = [delay for _, delay in delays["keep"]]
    assert sorted(keep)[len(keep) // 2] < 0.05
    assert 0.75 * 60 <= len(keep) <= 1.25 * 60
    behind = [delay for _, delay in delays["behind"]]
    quarter = max(1, len(behind) // 4)
    assert sum(behind[-quarter:]) / quarter > 1.0
    assert sum(behind[-quarter:]) / quarter > 2 * sum(behind[:quarter]) / quarter


def test_sequence_stage_runs_its_count_and_ends_the_run(
    target: TargetProcess, tmp_path: Path
) -> None:
    scenario = write_scenario(
        tmp_path,
        "sequence",
        [
            {
                "name": "seq",
                "users": 1,
                "hold_s": 60,
                "mix": {"simple": 1, "conversation": 1},
                "sequence": {"per_type": 2, "pause_s": 0.1},
            }
        ],
        conversation={"turns": 3, "query_types": ["simple", "file_operations"]},
    )
    started = time.monotonic()
    run_dir, _ = _run_scenario(scenario, target, tmp_path, "--no-report", timeout=90)
    assert time.monotonic() - started < 40  # ended by its count, not its 60 s budget
    rows = sorted(_rows(run_dir), key=lambda r: float(r["ts_start"]))
    assert [r["query_type"] for r in rows] == ["simple"] * 2 + ["conversation"] * 6
    assert [int(r["turn"]) for r in rows[2:]] == [1, 2, 3, 1, 2, 3]
    assert len({r["conversation_id"] for r in rows[2:]}) == 2
    assert all(r["ok"] == "true" for r in rows)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"


@pytest.mark.exclusive
def test_a_saturated_generator_marks_its_stage_invalid(
    target: TargetProcess, tmp_path: Path
) -> None:
    scenario = write_scenario(
        tmp_path,
        "saturated",
        [{"name": "idle", "users": 0, "hold_s": 8}, {"name": "busy", "users": 1, "hold_s": 10}],
    )
    run_dir, _ = _run_scenario(
        scenario,
        target,
        tmp_path,
        "--no-report",
        "--locustfile",
        str(ROOT / "tests/integration/locustfiles/burner_with_plugin.py"),
        timeout=90,
    )
    stages = {s["name"]: s for s in json.loads((run_dir / "run.json").read_text())["stages"]}
    assert stages["idle"]["invalid"] is None
    assert stages["busy"]["invalid"] is not None
    threshold = f"{DEFAULT_THRESHOLD_PCT:g}%"
    assert "local" in stages["busy"]["invalid"] and threshold in stages["busy"]["invalid"]


@pytest.mark.exclusive
def test_requests_csv_timing_matches_the_configured_truth(tmp_path: Path) -> None:
    """CI guard of benchmarks/requests_csv_accuracy.py: ~30 streams, looser tolerance."""
    ttft_ms, itl_ms, tokens = 100.0, 10.0, 10
    truth_e2e = ttft_ms + (tokens - 1) * itl_ms
    timing = ["--timing", f"all={ttft_ms},{itl_ms},{tokens}", "--jitter", "0", "--slots", "256"]
    scenario = write_scenario(
        tmp_path,
        "accuracy",
        [{"name": "load", "users": 60, "ramp_s": 1, "hold_s": 6, "mix": {"code_generation": 1}}],
        # Poisson starts at 30 / 0.19 s per s keep ~30 streams in flight (Little's law).
        arrival={"mode": "open", "rate": 30 / (truth_e2e / 1000.0), "process": "poisson"},
        think_time={"kind": "none"},
    )
    with start_target(timing) as agent:
        run_dir, _ = _run_scenario(scenario, agent, tmp_path, "--no-report", timeout=90)
    rows = [r for r in _finished(_rows(run_dir)) if r["stage"] == "load"]
    assert rows and all(r["ok"] == "true" for r in rows), {r["error_kind"] for r in rows}
    ttft_err = sorted(float(r["ttft_ms"]) - ttft_ms for r in rows)
    e2e_err = sorted(float(r["e2e_ms"]) - truth_e2e for r in rows)
    # A measured time can never beat the server's schedule: the client sends first.
    assert ttft_err[0] > -0.5 and e2e_err[0] > -0.5, (ttft_err[:3], e2e_err[:3])
    assert ttft_err[len(ttft_err) // 2] < 3.0, ttft_err
    assert e2e_err[len(e2e_err) // 2] < 3.0, e2e_err
