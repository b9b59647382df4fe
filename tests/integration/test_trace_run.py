"""A qi-load run against the instrumented reference agent joins its spans, request by request."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pandas as pd
from qi_cli import run_qi_load
from scenario_file import write_scenario


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_joins_agent_spans_and_names_the_tool_that_grew(tmp_path: Path) -> None:
    scenario = write_scenario(
        tmp_path,
        "traced",
        [
            {"name": "one", "users": 1, "hold_s": 4},
            {"name": "eight", "users": 8, "ramp_s": 0.5, "hold_s": 5},
        ],
        mix={"multi_tool": 3, "simple": 1},
    )
    done = run_qi_load(
        "run", str(scenario), "--out", str(tmp_path / "runs"),
        "--otlp-port", str(_free_port()),
        "--target-arg=--timing", "--target-arg=all=40,2,8",
        "--target-arg=--tool-ms", "--target-arg=10",
        "--target-arg=--slow-tool", "--target-arg=get_weather=40",
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "agent spans:" in done.stdout and "tool get_weather grew first" in done.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["otlp"]["spans_accepted"] > 0
    assert manifest["otlp"]["payloads_rejected"] == 0
    requests = pd.read_csv(run_dir / "requests.csv", dtype={"trace_id": "string"})
    finished = requests[requests["error_kind"] != "cancelled"]
    spans = pd.read_csv(run_dir / "spans.csv", dtype={"trace_id": "string"})
    agent_traces = set(spans.loc[spans["phase"] == "agent", "trace_id"])
    joined = finished["trace_id"].isin(agent_traces).mean()
    assert joined >= 0.99, joined
    summary = json.loads((run_dir / "summary.json").read_text())
    traces = summary["traces"]
    assert traces["join_rate"] >= 0.99
    assert traces["first_grown"]["component"] == "tool:get_weather"
    assert traces["first_grown"]["stage"] == "eight"
    assert "Agent spans (OpenTelemetry)" in (run_dir / "report.html").read_text()
