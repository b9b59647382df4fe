"""`qi-load startup` ready conditions against real servers: log line, URL with {port}, port."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from qi_cli import run_qi_load

pytestmark = pytest.mark.integration

# Listens after ~400 ms, says it is ready 300 ms later: known gaps to check the timings by.
SLOW_SERVER = """
import socket, sys, time
from pathlib import Path
print("QI_PHASE process_init 1.5", flush=True)
time.sleep(0.4)
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
port = server.getsockname()[1]
Path(sys.argv[1]).write_text(str(port))
time.sleep(0.3)
print(f"QI_READY http://127.0.0.1:{port}", flush=True)
print("QI_PHASE ready 300", file=sys.stderr, flush=True)
time.sleep(60)
"""


def _startup(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "out"
    proc = run_qi_load(
        "startup", "--cooldown", "0", "--timeout", "20", "--out", str(out), *args, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads((out / "startup.json").read_text())
    return doc


@pytest.mark.exclusive
def test_log_line_port_and_phases(tmp_path: Path) -> None:
    script = tmp_path / "slow_server.py"
    script.write_text(SLOW_SERVER)
    port_file = tmp_path / "port"
    doc = _startup(
        tmp_path,
        "-n",
        "2",
        "--ready-log",
        "^QI_READY ",
        "--",
        sys.executable,
        str(script),
        str(port_file),
    )
    for run in doc["runs"]:
        assert run["phases"] == {"process_init": 1.5, "ready": 300.0}
        assert run["first_output_ms"] < run["port_open_ms"] < run["ready_ms"]
        # The server waits 300 ms between listening and its ready line; port detection
        # polls every 10 ms, so the gap is a little under 300 ms — or more when the busy
        # machine makes the server late with its ready line.
        gap = run["ready_ms"] - run["port_open_ms"]
        assert 240.0 <= gap <= 450.0, run
        assert run["port_open_ms"] - run["first_output_ms"] >= 350.0, run
        assert run["rss_bytes"] > 1_000_000 and run["cpu_ms"] > 0
    assert doc["runs"][-1]["port"] == int(port_file.read_text())
    assert list(doc["phases"]) == ["process_init", "ready"]
    assert doc["rss_basis"] == "at_ready"


def test_ready_url_with_port_placeholder(tmp_path: Path) -> None:
    doc = _startup(
        tmp_path,
        "-n",
        "2",
        "--ready-url",
        "http://127.0.0.1:{port}/",
        "--",
        sys.executable,
        "-m",
        "http.server",
        "0",
        "--bind",
        "127.0.0.1",
        "--directory",
        str(tmp_path),
    )
    for run in doc["runs"]:
        assert run["port"] is not None
        assert run["port_open_ms"] <= run["ready_ms"]
    assert doc["ready"] == {
        "kind": "url",
        "value": "http://127.0.0.1:{port}/",
        "description": "http://127.0.0.1:{port}/ to answer 2xx",
    }


def test_ready_port(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    doc = _startup(
        tmp_path,
        "-n",
        "1",
        "--ready-port",
        str(port),
        "--",
        sys.executable,
        "-m",
        "http.server",
        str(port),
        "--bind",
        "127.0.0.1",
        "--directory",
        str(tmp_path),
    )
    run = doc["runs"][0]
    assert run["port"] == port
    assert abs(run["ready_ms"] - run["port_open_ms"]) < 100.0


def test_ready_port_already_taken_is_refused(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = run_qi_load(
            "startup",
            "--out",
            str(tmp_path),
            "--ready-port",
            str(busy.getsockname()[1]),
            "--",
            sys.executable,
            "-V",
            timeout=60,
        )
    assert proc.returncode == 2
    assert "already accepts connections before the command starts" in proc.stderr
