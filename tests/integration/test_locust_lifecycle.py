"""Plain Locust habits with the qi-load plugin, in real Locust processes against the reference
agent: -t, SIGTERM/SIGINT (local, master, one worker, `timeout`), one Locust entry per
request, cancelled rows, web UI tests each with their own run directory, config files and
LOCUST_* variables."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import Locust, free_port, request_rows, run_manifest, start_cluster, wait_for
from qi_cli import AGENT_LOCUSTFILE
from scenario_file import write_scenario

from qi_load.agent.launch import TargetProcess, start_target

pytestmark = pytest.mark.integration

TRACEBACK = "Traceback (most recent call last)"


@pytest.fixture(scope="module")
def target() -> Iterator[TargetProcess]:
    with start_target(["--slowdown", "0.3", "--slots", "64"]) as running:
        yield running


LONG = [{"name": "one", "users": 3, "hold_s": 3}, {"name": "two", "users": 5, "hold_s": 120}]


def _locust_count(json_file: Path) -> int:
    """Locust's final request count (its Aggregated line: the sum of its entries)."""
    return sum(int(e["num_requests"]) for e in json.loads(json_file.read_text()))


def _assert_counts_agree(run_dir: Path, json_file: Path) -> Counter[str]:
    rows = request_rows(run_dir)
    kinds = Counter(r["error_kind"] for r in rows)
    assert _locust_count(json_file) + kinds["cancelled"] == len(rows), kinds
    assert run_manifest(run_dir)["counts"]["requests"] == len(rows)
    for row in rows:
        if row["error_kind"] == "cancelled":
            assert row["ok"] == "false" and float(row["e2e_ms"]) >= 0
    return kinds


def _entries(json_file: Path) -> set[str]:
    return {e["method"] for e in json.loads(json_file.read_text())}


@pytest.mark.parametrize("processes_flag", [[], ["--processes", "2"]], ids=["local", "processes"])
def test_run_time_ends_a_run_without_scenario(
    target: TargetProcess, tmp_path: Path, locusts: list[Locust], processes_flag: list[str]
) -> None:
    run_dir = tmp_path / "run"
    final = tmp_path / "final"
    args = ["--headless", "-H", target.url, "-u", "4", "-r", "4", "-t", "5s", "--only-summary"]
    args += ["--run-dir", str(run_dir), "--json-file", str(final), *processes_flag]
    locust = Locust(args, tmp_path / "locust.log", cwd=tmp_path)
    locusts.append(locust)
    assert locust.wait(timeout=45) == 0, locust.output()[-3000:]
    manifest = run_manifest(run_dir)
    assert manifest["status"] == "complete"
    # Ended by its 5 s run time: not early, and not much later. Stopping the users and the
    # processes' last reports take a second on a quiet machine, longer beside two other
    # shards; a run that did not end by -t would have run into the 45 s wait.
    ran = manifest["end"] - manifest["start"]
    assert 3.5 <= ran <= 10.0, ran
    kinds = _assert_counts_agree(run_dir, Path(f"{final}.json"))
    assert kinds["none"] > 0, kinds
    if not processes_flag:
        # Workers' last reports reach a quitting master only within Locust's 0.5 s.
        assert kinds["cancelled"] >= 1, kinds
    assert _entries(Path(f"{final}.json")) == {"POST"}  # no TTFT entries
    output = locust.output()
    assert TRACEBACK not in output
    assert "have no impact on LoadShapes" not in output
    # The master's last line names the run directory and how to render its report.
    assert output.strip().splitlines()[-1].endswith(f"qi-load report {run_dir}")


@pytest.mark.parametrize(
    ("signum", "with_scenario"),
    [(signal.SIGTERM, True), (signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["SIGTERM-scenario", "SIGINT-scenario", "SIGTERM-plain"],
)
def test_a_signal_finalizes_a_local_run(
    target: TargetProcess,
    tmp_path: Path,
    locusts: list[Locust],
    signum: signal.Signals,
    with_scenario: bool,
) -> None:
    """With a scenario the signal comes while Locust runs the shape (no SIGTERM handler of
    its own yet); without, Locust's own SIGTERM handler is installed. Each signal comes twice,
    30 ms apart, as from `timeout` (the command, then its process group) or a double Ctrl-C."""
    run_dir = tmp_path / "run"
    final = tmp_path / "final"
    args = ["--headless", "-H", target.url, "-u", "3", "--only-summary"]
    args += ["--run-dir", str(run_dir), "--json-file", str(final)]
    if with_scenario:
        args += ["--scenario", str(write_scenario(tmp_path, "life", LONG)), "-t", "9s"]
    locust = Locust(args, tmp_path / "locust.log", cwd=tmp_path)
    locusts.append(locust)
    if with_scenario:
        wait_for("stage two", lambda: any(r["stage"] == "two" for r in request_rows(run_dir)), 60)
    else:
        wait_for("10 rows", lambda: len(request_rows(run_dir)) >= 10, 60)
    signalled = time.time()
    locust.process.send_signal(signum)
    time.sleep(0.03)
    locust.process.send_signal(signum)
    assert locust.wait(timeout=10) == 0, locust.output()[-3000:]
    manifest = run_manifest(run_dir)
    assert manifest["status"] == "interrupted"
    assert manifest["interrupted_by"] == signum.name
    assert signalled <= manifest["end"] <= signalled + 5
    kinds = _assert_counts_agree(run_dir, Path(f"{final}.json"))
    assert kinds["cancelled"] >= 1, kinds
    assert all(float(r["ts_start"]) < signalled + 1 for r in request_rows(run_dir))
    output = locust.output()
    assert TRACEBACK not in output
    assert output.count("Shutting down (exit code") == 1
    if with_scenario:
        # Locust's own warning for the options a shape overrides.
        assert "The following option(s) will be ignored: --users, --run-time" in output
    else:
        assert manifest["stages"] == []


@pytest.mark.exclusive  # a deadline in seconds: a neighbour's load delays the signal path
def test_timeout_command_stops_a_scenario_run(
    target: TargetProcess, tmp_path: Path, locusts: list[Locust]
) -> None:
    """`timeout 10 locust …` (SIGTERM at 10 s) ends the run well before 15 s."""
    run_dir = tmp_path / "run"
    scenario = write_scenario(tmp_path, "life", LONG)
    started = time.monotonic()
    done = subprocess.run(
        [
            *("timeout", "-k", "20", "10"),
            *(sys.executable, "-m", "locust", "-f", str(AGENT_LOCUSTFILE)),
            *("--headless", "-H", target.url, "--scenario", str(scenario), "--only-summary"),
            *("--run-dir", str(run_dir)),
        ],
        capture_output=True,
        text=True,
        timeout=40,
        cwd=tmp_path,
    )
    assert time.monotonic() - started < 15, done.stderr[-2000:]
    assert done.returncode == 124  # timeout's own code: it had to send SIGTERM
    assert run_manifest(run_dir)["status"] == "interrupted", done.stderr[-3000:]
    assert TRACEBACK not in done.stderr + done.stdout


def test_sigterm_to_a_worker_then_to_the_master(
    target: TargetProcess, tmp_path: Path, locusts: list[Locust]
) -> None:
    run_dir = tmp_path / "run"
    final = tmp_path / "final"
    scenario = write_scenario(tmp_path, "life", LONG)
    master, workers = start_cluster(
        ["-H", target.url, "--scenario", str(scenario)],
        ["--run-dir", str(run_dir), "--json-file", str(final)],
        tmp_path,
        cwd=tmp_path,
    )
    locusts.extend([master, *workers])
    wait_for(
        "both workers in stage two",
        lambda: len({r["worker"] for r in request_rows(run_dir) if r["stage"] == "two"}) == 2,
        90,
    )
    left_at = time.time()
    workers[0].process.send_signal(signal.SIGTERM)
    assert workers[0].wait(timeout=10) == 0, workers[0].output()[-3000:]
    wait_for("a lost worker", lambda: bool(run_manifest(run_dir).get("lost_workers")), 10)
    lost = run_manifest(run_dir)["lost_workers"]
    assert len(lost) == 1 and lost[0]["reason"] == "SIGTERM"
    assert left_at <= lost[0]["at"] <= left_at + 10
    time.sleep(2)  # the other worker goes on
    master.process.send_signal(signal.SIGTERM)
    assert master.wait(timeout=15) == 0, master.output()[-3000:]
    assert workers[1].wait(timeout=15) == 0, workers[1].output()[-3000:]
    manifest = run_manifest(run_dir)
    assert manifest["status"] == "interrupted" and manifest["interrupted_by"] == "SIGTERM"
    kinds = _assert_counts_agree(run_dir, Path(f"{final}.json"))
    assert kinds["cancelled"] >= 2, kinds  # in flight on each worker when it stopped
    rows = request_rows(run_dir)
    left = [r for r in rows if r["worker"] == lost[0]["id"]]
    assert left and max(float(r["ts_start"]) for r in left) < left_at + 1
    assert any(r["worker"] != lost[0]["id"] and float(r["ts_start"]) > left_at + 1 for r in rows)
    for proc in (master, *workers):
        assert TRACEBACK not in proc.output()
        assert proc.output().count("Shutting down (exit code") == 1


def _post(url: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    data = urllib.parse.urlencode(fields or {}).encode()
    with urllib.request.urlopen(url, data=data, timeout=30) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


def test_each_web_ui_test_gets_its_own_finalized_run_directory(
    target: TargetProcess, tmp_path: Path, locusts: list[Locust]
) -> None:
    scenario = write_scenario(tmp_path, "life", LONG)
    port = free_port()
    reports = tmp_path / "reports"
    locust = Locust(
        [
            *("-H", target.url, "--scenario", str(scenario)),
            *("--web-host", "127.0.0.1", "--web-port", str(port)),
        ],
        tmp_path / "locust.log",
        cwd=tmp_path,
    )
    locusts.append(locust)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            urllib.request.urlopen(base + "/", timeout=2).close()
        except OSError:
            return False
        return True

    wait_for("the web UI", up, 60)
    run_dirs: list[Path] = []
    for _ in range(2):
        before = set(reports.iterdir()) if reports.exists() else set()
        answer = _post(base + "/swarm", {"user_count": "1", "spawn_rate": "1"})
        assert answer["success"] and "shape" in answer["message"], answer
        wait_for(
            "a new run directory",
            lambda: reports.exists() and len(set(reports.iterdir()) - before) == 1,  # noqa: B023
            30,
        )
        (run_dir,) = set(reports.iterdir()) - before
        run_dirs.append(run_dir)
        wait_for(
            "a served request",
            lambda: any(r["error_kind"] == "none" for r in request_rows(run_dir)),  # noqa: B023
            30,
        )
        assert run_manifest(run_dir)["status"] == "running"
        assert _post(base + "/stop")["success"]
        wait_for(
            "the run's end",
            lambda: run_manifest(run_dir).get("status") != "running",  # noqa: B023
            15,
        )
    locust.process.send_signal(signal.SIGTERM)
    assert locust.wait(timeout=15) == 0, locust.output()[-3000:]
    assert run_dirs[0] != run_dirs[1]
    for run_dir in run_dirs:
        manifest = run_manifest(run_dir)
        # Stopped from the UI before the scenario's end.
        assert manifest["status"] == "interrupted" and manifest["interrupted_by"] == "stop"
        assert manifest["end"] > manifest["start"]
        assert [s["name"] for s in manifest["stages"]] == ["one"], (run_dirs, manifest)
        assert manifest["counts"]["requests"] == len(request_rows(run_dir)) > 0
    assert TRACEBACK not in locust.output()


@pytest.mark.parametrize("source", ["locust.conf", "pyproject.toml", "environment"])
def test_config_files_and_environment_set_plugin_options(
    target: TargetProcess, tmp_path: Path, locusts: list[Locust], source: str
) -> None:
    scenario = write_scenario(tmp_path, "conf", [{"name": "only", "users": 2, "hold_s": 2}])
    run_dir = tmp_path / "run"
    env: dict[str, str] = {}
    if source == "locust.conf":
        (tmp_path / "locust.conf").write_text(
            f"scenario = {scenario}\nrun-dir = {run_dir}\nqi-report = true\n"
        )
    elif source == "pyproject.toml":
        (tmp_path / "pyproject.toml").write_text(
            f'[tool.locust]\nscenario = "{scenario}"\nrun-dir = "{run_dir}"\n'
        )
    else:
        env = {"LOCUST_SCENARIO": str(scenario), "LOCUST_RUN_DIR": str(run_dir)}
    locust = Locust(
        ["--headless", "-H", target.url, "--only-summary"],
        tmp_path / "locust.log",
        cwd=tmp_path,
        env=env,
    )
    locusts.append(locust)
    assert locust.wait(timeout=120) == 0, locust.output()[-3000:]
    manifest = run_manifest(run_dir)
    assert manifest["scenario"]["name"] == "conf"
    assert manifest["status"] == "complete"
    assert [s["name"] for s in manifest["stages"]] == ["only"]
    output = locust.output()
    assert TRACEBACK not in output
    if source == "locust.conf":
        assert (run_dir / "report.html").is_file()
        assert output.strip().splitlines()[-1].endswith(f"report: {run_dir / 'report.html'}")
