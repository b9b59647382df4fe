"""`qi-load startup` on the reference agent: every phase, the port, RSS and CPU at ready."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from qi_cli import qi_load_command, run_qi_load

pytestmark = pytest.mark.integration

TARGET = qi_load_command("target", "--host", "127.0.0.1", "--port", "0")
PHASES = ["process_init", "module_loading", "configuration", "agent_init", "ready"]


def _startup(out: Path, *args: str) -> dict[str, Any]:
    proc = run_qi_load(
        "startup",
        "--cooldown",
        "0.2",
        "--timeout",
        "60",
        "--out",
        str(out),
        *args,
        "--",
        *TARGET,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    for phase in PHASES:
        assert f"{phase} (ms)" in proc.stdout
    doc: dict[str, Any] = json.loads((out / "startup.json").read_text())
    return doc


def test_ready_log_reports_all_phases_and_rss(tmp_path: Path) -> None:
    doc = _startup(tmp_path, "-n", "3", "--ready-log", "^QI_READY ")
    assert list(doc["phases"]) == PHASES
    for run in doc["runs"]:
        assert list(run["phases"]) == PHASES
        assert run["port"] is not None
        assert run["first_output_ms"] < run["ready_ms"]
        assert run["port_open_ms"] <= run["ready_ms"] + 50.0
        # A Python ASGI agent with the MCP SDK loaded: tens of MiB, not a few.
        assert 20 * 2**20 < run["rss_bytes"] < 1024 * 2**20
        assert run["cpu_ms"] > 0
        # The phases the agent reports happen inside the time measured from outside.
        assert sum(run["phases"].values()) <= run["ready_ms"] * 1.05
    assert doc["summary"]["ready_ms"]["n"] == 3
    assert {"startup", "memory"} <= set(doc["grades"])


def test_ready_url_on_the_port_the_agent_picked(tmp_path: Path) -> None:
    doc = _startup(tmp_path, "-n", "2", "--ready-url", "http://127.0.0.1:{port}/ready")
    for run in doc["runs"]:
        assert run["port"] is not None
        assert run["port_open_ms"] <= run["ready_ms"]
        assert list(run["phases"]) == PHASES
