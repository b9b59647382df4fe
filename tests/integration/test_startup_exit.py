"""`qi-load startup` on commands that exit: its timing matches an independent measurement."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from qi_cli import run_qi_load

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

SLEEPER = [sys.executable, "-c", "import time; print('QI_PHASE nap 300'); time.sleep(0.3)"]


def _independent_exit_ms(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(SLEEPER, check=True, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def test_time_to_exit_matches_an_independent_measurement(tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = _independent_exit_ms(3)
    proc = run_qi_load(
        "startup", "-n", "6", "--cooldown", "0", "--out", str(out), "--", *SLEEPER, timeout=120
    )
    after = _independent_exit_ms(3)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "startup.json").read_text())
    measured = statistics.median(run["ready_ms"] for run in doc["runs"])
    independent = statistics.median(before + after)
    assert abs(measured - independent) / independent < 0.10, (measured, before, after)
    # The process really slept 300 ms: the measurement cannot be below it.
    assert min(run["ready_ms"] for run in doc["runs"]) >= 300.0
    assert doc["ready"]["kind"] == "exit" and doc["rss_basis"] == "peak"
    assert all(run["exit_code"] == 0 for run in doc["runs"])
    assert all(run["phases"] == {"nap": 300.0} for run in doc["runs"])
    assert all(run["rss_bytes"] > 1_000_000 for run in doc["runs"])
    assert all(0 < run["cpu_ms"] < run["ready_ms"] for run in doc["runs"])
    assert all(run["first_output_ms"] <= run["ready_ms"] for run in doc["runs"])
    assert doc["summary"]["ready_ms"]["n"] == 6
    assert (out / "startup.png").read_bytes()[:4] == b"\x89PNG"
    assert "exit (ms)" in proc.stdout and "load average at start" in proc.stdout


def test_failing_command_is_an_error(tmp_path: Path) -> None:
    proc = run_qi_load(
        "startup",
        "-n",
        "2",
        "--out",
        str(tmp_path),
        "--",
        sys.executable,
        "-c",
        "import sys; sys.exit('boom')",
        timeout=60,
    )
    assert proc.returncode == 1
    assert "run 1:" in proc.stderr and "exited with code 1" in proc.stderr
    assert "boom" in proc.stderr
    assert not (tmp_path / "startup.json").exists()


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    proc = run_qi_load("startup", "--out", str(tmp_path), "--", "no-such-command-qi", timeout=60)
    assert proc.returncode == 2
    assert "cannot start `no-such-command-qi`" in proc.stderr
