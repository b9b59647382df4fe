"""Locust's --otel pipeline carries qi-load's own request metrics too."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from qi_cli import agent_locust_command

from qi_load.agent.launch import spawn_target


def test_locust_otel_exports_qi_load_metrics(tmp_path: Path) -> None:
    agent = spawn_target(["--timing", "all=20,2,5"])
    try:
        env = {
            **os.environ,
            "OTEL_METRICS_EXPORTER": "console",
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        }
        done = subprocess.run(
            agent_locust_command(
                "-H",
                agent.url,
                "-u",
                "2",
                "-r",
                "2",
                "-t",
                "3",
                "--otel",
                "--run-dir",
                str(tmp_path / "run"),
            ),
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=tmp_path,
        )
    finally:
        agent.stop()
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    for name in ("qi.request.ttft", "qi.request.duration", "qi.requests", "qi.output_tokens"):
        assert f'"name": "{name}"' in done.stdout, name
