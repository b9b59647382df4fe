"""Plain Locust against a separately started reference agent, without --reference-agent: the
agent's response header makes its file and tool checks run, per request."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from qi_load.agent.launch import start_target

pytestmark = pytest.mark.integration

LOCUSTFILE = Path(__file__).parents[2] / "locustfiles" / "agent.py"


def test_reference_checks_run_on_answers_from_the_reference_agent(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    scenario = tmp_path / "mix.yaml"
    scenario.write_text(
        json.dumps(  # JSON is YAML
            {
                "name": "reference-header",
                "think_time": {"kind": "constant", "seconds": 0.05},
                "stages": [{"name": "only", "users": 3, "hold_s": 5}],
                "mix": {"file_operations": 2, "multi_tool": 1, "simple": 1},
            }
        )
    )
    # Short answers (20 ms TTFT, 2 ms between 8 tokens): many requests in a few seconds.
    with start_target(["--timing", "all=20,2,8"], stderr_path=tmp_path / "agent.err") as agent:
        done = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "-H", agent.url,
             "--headless", "--scenario", str(scenario), "--loglevel", "WARNING",
             "--run-dir", str(run_dir)],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    with (run_dir / "requests.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["ok"] == "true"]
    files = [r for r in rows if r["query_type"] == "file_operations"]
    assert files, "no file_operations request"
    assert {r["quality_ok"] for r in files} == {"true"}
    tools = {r["quality_ok"] for r in rows if r["query_type"] == "multi_tool"}
    assert tools <= {"true"} and tools
    quality = json.loads((run_dir / "run.json").read_text())["quality"]
    assert quality["reference_agent"] is False  # not declared ...
    assert quality["checks"]["file_operations"] == {
        "ran": [],
        "reference_only": ["sandbox_file_facts"],
        "skipped": [],
    }  # fmt: skip ... so run.json says when they run
