"""Real repeat sets against real reference agents: `run --repeat` leaves ordinary run
directories plus a set whose report has between-run intervals; `compare` of two sets of the
same build reads ok, and a set against a slower agent reads as a regression.

The three sets run side by side, so that whatever else loads the host (other test shards)
loads all of them alike: sets run one after another on a busy host differ by the host, not
the build, and that difference is real, not noise an interval allows for."""

from __future__ import annotations

import json
import subprocess
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from qi_cli import qi_load_command

from qi_load.agent.launch import start_target
from qi_load.analyze.compare import CompareSettings
from qi_load.analyze.compare_sets import compare_sets
from qi_load.analyze.repeat_set import load_set
from qi_load.cli import main

pytestmark = pytest.mark.integration

# Only fast answers (about 0.2 s with the agent 3x faster) so that every window holds the
# 20 requests a capacity verdict needs; 4 users stay well below the agent's 8 slots.
SCENARIO = {
    "name": "repeat-tiny",
    "settle_s": 0.5,
    "mix": {"simple": 1},
    "think_time": {"kind": "constant", "seconds": 0.05},
    "stages": [
        {"name": "two", "users": 2, "hold_s": 4},
        {"name": "four", "users": 4, "ramp_s": 0.5, "hold_s": 3},
    ],
}


SAME_BUILD_FALSE_ALARM = 1e-4
"""The same-build verdict is read at this family-wise level: under the intervals' model
(runs independent given the host's load) the chance that any row flags a change is at
most this. The command's own 5 % would fail CI about once in twenty runs at worst."""


def _repeat(tmp_path: Path, url: str, set_id: str, count: int) -> subprocess.Popen[str]:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(json.dumps(SCENARIO))  # JSON is YAML
    command = qi_load_command(
        "run", str(scenario), "--host", url, "--repeat", str(count), "--no-report",
        "--out", str(tmp_path / "sets"), "--run-id", set_id, "--progress", "0",
        "--monitor-interval", "1",
    )  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finished(sets: dict[str, subprocess.Popen[str]]) -> None:
    try:
        for process in sets.values():
            out, _ = process.communicate(timeout=240)
            assert process.returncode == 0, out
    finally:
        for process in sets.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def _compare(
    tmp_path: Path, base: Path, current: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any], str]:
    # In this process: the analysis is the same, without a second interpreter's start.
    out = tmp_path / f"cmp-{current.name}"
    code = main(["compare", str(base), str(current), "--out", str(out)])
    printed = capsys.readouterr()
    assert code in (0, 3), printed.out + printed.err
    return code, json.loads((out / "comparison.json").read_text()), printed.out


def test_repeat_sets_give_intervals_and_compare_on_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ExitStack() as stack:
        # One agent per set: two sets of 4 users would fill one agent's 8 slots.
        agent = stack.enter_context(start_target(["--slowdown", "0.3"]))
        twin = stack.enter_context(start_target(["--slowdown", "0.3"]))
        slower = stack.enter_context(start_target(["--slowdown", "0.6"]))
        _finished(
            {
                "base": _repeat(tmp_path, agent.url, "base", 3),
                "same": _repeat(tmp_path, twin.url, "same", 3),
                "slow": _repeat(tmp_path, slower.url, "slow", 2),
            },
        )
    base, same, slow = (tmp_path / "sets" / name for name in ("base", "same", "slow"))

    index = json.loads((base / "repeat.json").read_text())
    assert [r["status"] for r in index["runs"]] == ["complete"] * 3
    for r in index["runs"]:
        # Every run is an ordinary run directory.
        manifest = json.loads((base / r["path"] / "run.json").read_text())
        assert manifest["status"] == "complete" and manifest["run_id"] == r["run_id"]

    assert main(["report", str(base)]) == 0
    printed = capsys.readouterr().out
    assert "capacity" in printed and "E2E p95 ms" in printed
    summary = json.loads((base / "summary.json").read_text())
    assert summary["kind"] == "repeat_set"
    assert [s["stage"] for s in summary["stages"]] == ["two", "four"]
    for stage in summary["stages"]:
        for key in ("e2e_p50_ms", "e2e_p95_ms", "throughput_rps"):
            iv = stage[key]
            assert iv["n"] == 3, (stage["stage"], key, iv)
            assert iv["low"] <= iv["mean"] <= iv["high"], (stage["stage"], key, iv)
    assert summary["capacity"]["per_run"] == [4, 4, 4]
    assert "E2E p95 ms" in (base / "report.html").read_text()

    _code, same_build, printed = _compare(tmp_path, base, same, capsys)
    assert same_build["method"].startswith("t-interval over runs")
    assert {(r["n_base"], r["n_current"]) for r in same_build["rows"]} == {(3, 3)}
    strict = CompareSettings(level=1.0 - SAME_BUILD_FALSE_ALARM)
    same_strict = compare_sets(load_set(base), load_set(same), strict)
    assert same_strict["worst"] == "ok", (same_strict["rows"], printed)

    code, regression, printed = _compare(tmp_path, base, slow, capsys)
    assert code == 3 and regression["worst"] == "critical", printed
    # Twice the service time: latencies about double. Which rows clear the family-level
    # intervals depends on how much the runs spread on a busy machine; those that do are
    # large, real changes.
    critical = [r for r in regression["rows"] if r["severity"] == "critical"]
    assert critical and all(r["change"] > 0.3 and r["ci_low"] > 0 for r in critical), printed
