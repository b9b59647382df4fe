"""A qi-load run against the instrumented reference agent joins its spans, request by request."""

from __future__ import annotations

import gzip
import json
import subprocess
import time
from pathlib import Path

import pandas as pd
import requests
from processes import free_port
from qi_cli import qi_load_command
from scenario_file import write_scenario


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
    port = free_port()
    command = qi_load_command(
        "run", str(scenario), "--out", str(tmp_path / "runs"), "--otlp-port", str(port),
        "--target-arg=--timing", "--target-arg=all=40,2,8",
        "--target-arg=--tool-ms", "--target-arg=10",
        "--target-arg=--slow-tool", "--target-arg=get_weather=40",
    )  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as run:
        try:
            statuses = _hostile_exports(f"http://127.0.0.1:{port}/v1/traces")
            stdout, stderr = run.communicate(timeout=120)
        finally:
            if run.poll() is None:
                run.kill()
    # Bad payloads get their status and cost the run nothing.
    assert statuses == [415, 400, 413, 413, 415], statuses
    done = subprocess.CompletedProcess(command, run.returncode, stdout, stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "agent spans:" in done.stdout and "tool get_weather grew first" in done.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["otlp"]["spans_accepted"] > 0
    assert manifest["otlp"]["payloads_rejected"] == len(statuses)
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


def _hostile_exports(url: str) -> list[int]:
    """Malformed, oversized, a gzip bomb and a wrong type, sent once the receiver is up."""
    deadline = time.monotonic() + 60
    while True:
        try:  # the first answer is itself a refused content type
            first = requests.post(url, data=b"", headers={"Content-Type": "text/plain"}, timeout=10)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    protobuf = {"Content-Type": "application/x-protobuf"}
    sends = [
        (b"\xff\xff\xff\xff\x0f", protobuf),
        (b"\0" * (5 * 1024 * 1024), protobuf),
        (gzip.compress(b"\0" * (20 * 1024 * 1024)), {**protobuf, "Content-Encoding": "gzip"}),
        (b"<xml/>", {"Content-Type": "application/xml"}),
    ]
    return [first.status_code] + [
        requests.post(url, data=body, headers=h, timeout=10).status_code for body, h in sends
    ]
