"""Hostile servers through real Locust users: whatever a chat or MCP server answers (wrong
shapes, deep nesting, binary, invalid UTF-8, huge error bodies and lines, a slow drip, a close
mid-stream, code that breaks the quality check), every request leaves exactly one row with
its failure categorized, Locust counts it once, and the server saw it once."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_http import request
from ready_server import ready_server
from scenario_file import write_scenario

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SERVER = Path(__file__).with_name("hostile_server.py")
TRACEBACK = "Traceback (most recent call last)"

# (error_kind, quality_ok) each shape must leave in requests.csv.
CHAT_EXPECTED = {
    "ok": ("none", "true"),
    "bad_code": ("none", "false"),
    "huge_error": ("http", ""),
    "slow_drip": ("timeout", ""),
    "slow_headers": ("timeout", ""),
}
MCP_EXPECTED = {
    "ok": ("none", "true"),
    "wrong_answer": ("none", "false"),
    "content_number": ("none", "false"),
    "huge_error": ("http", ""),
    "slow_drip": ("timeout", ""),
}
PROTOCOL = ("protocol", "")


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    with ready_server(SERVER) as url:
        yield url


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Locust processes of the test, killed at its end if still running."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def _locust(locustfile: str, url: str, tmp: Path, *extra: str) -> subprocess.Popen[bytes]:
    scenario = write_scenario(
        tmp,
        "hostile",
        [{"name": "hostile", "users": 1, "hold_s": 9}],
        think_time={"kind": "none"},
        mix={"code_generation": 1},
    )
    args = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / locustfile)]
    args += ["--headless", "-H", url, "--scenario", str(scenario), "--only-summary"]
    args += ["--run-dir", str(tmp / "run"), "--json-file", str(tmp / "final")]
    # Bounded: the slow shapes time out fast, and the last request finishes (no cancelled row).
    args += ["--request-timeout", "2", "--first-byte-timeout", "1", "--connect-timeout", "2"]
    # Failures are the point here: Locust would exit 1 for them.
    args += ["--stop-timeout", "15", "--no-preflight", "--exit-code-on-error", "0", *extra]
    with (tmp / "locust.log").open("wb") as log:
        return subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=tmp,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def _high_water_mark(pid: int) -> int:
    """The largest resident size (bytes) the live process has reached: the kernel's VmHWM."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0  # a zombie has no memory left to report


def _peak_rss(processes: list[subprocess.Popen[bytes]], timeout: float) -> list[int]:
    """Wait for every process to exit; the largest resident size each reached meanwhile.

    The kernel's running peak, not sampled sizes: polling caught the quality check's short
    parse spike only sometimes (92-117 MiB for a peak of 117 MiB), so the number checked
    depended on when the poll came, the more so on a busy host. Only the last 0.1 s of a
    process's life is unseen."""
    peaks = [0] * len(processes)
    deadline = time.monotonic() + timeout
    while any(p.poll() is None for p in processes):
        assert time.monotonic() < deadline, "Locust did not end in time"
        for i, process in enumerate(processes):
            with contextlib.suppress(OSError):  # it has just exited
                peaks[i] = max(peaks[i], _high_water_mark(process.pid))
        time.sleep(0.1)
    return peaks


def _finish(process: subprocess.Popen[bytes], tmp: Path) -> list[dict[str, str]]:
    code = process.wait(timeout=1)
    output = (tmp / "locust.log").read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert TRACEBACK not in output, output[-3000:]
    manifest: dict[str, Any] = json.loads((tmp / "run" / "run.json").read_text())
    assert manifest["status"] == "complete"
    with (tmp / "run" / "requests.csv").open(newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda r: float(r["ts_start"]))
    locust_count = sum(int(e["num_requests"]) for e in json.loads((tmp / "final.json").read_text()))
    assert len(rows) == locust_count == manifest["counts"]["requests"], (len(rows), locust_count)
    return rows


def _check_rows(rows: list[dict[str, str]], expected: list[tuple[str, str]]) -> None:
    assert len(rows) == len(expected)
    for row, (kind, quality) in zip(rows, expected, strict=True):
        assert (row["error_kind"], row["quality_ok"]) == (kind, quality), row
        assert (row["ok"] == "true") == (kind == "none"), row
        assert float(row["e2e_ms"]) > 0, row  # failures keep their E2E too


def test_every_hostile_answer_leaves_one_categorized_row(
    hostile: str, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    chat_dir, mcp_dir = tmp_path / "chat", tmp_path / "mcp"
    chat_dir.mkdir()
    mcp_dir.mkdir()
    # Both runs at once: each has its own log of the shapes it was served.
    chat = _locust("agent.py", hostile, chat_dir)
    mcp = _locust("mcp.py", hostile, mcp_dir)
    started += [chat, mcp]
    peaks = _peak_rss([chat, mcp], timeout=50)
    chat_rows, mcp_rows = _finish(chat, chat_dir), _finish(mcp, mcp_dir)
    # 200 MiB error bodies, 30 MiB lines and 64 MiB of headers were offered: none was held.
    # Locust alone: ~83 MiB; the chat run peaks at ~117 MiB, with or without CPU hogs beside
    # it: parsing the 200 kB code block the quality check then refuses takes ~35 MiB.
    assert max(peaks) < 160 * 1024 * 1024, peaks
    served = request(hostile, "GET", "/stats").json()

    # Chat: one row per request the server received, in its order, each shape categorized.
    assert set(served["chat"]) == set(served["shapes"]["chat"]), served["chat"]
    _check_rows(chat_rows, [CHAT_EXPECTED.get(shape, PROTOCOL) for shape in served["chat"]])
    assert {r["query_type"] for r in chat_rows} == {"code_generation"}
    huge = [r for r, s in zip(chat_rows, served["chat"], strict=True) if s == "huge_error"]
    assert all(int(r["bytes"]) <= 64 * 1024 and r["status_code"] == "500" for r in huge)

    # MCP: initialize, tools/list and tools/call rows, the same invariant.
    calls = [shape for method, shape in served["mcp"] if method == "tools/call"]
    assert set(calls) == set(served["shapes"]["mcp"]), calls
    assert {"tools_string", "no_known_tool"} <= {shape for _, shape in served["mcp"]}
    listing = {"tools_string": PROTOCOL, "no_known_tool": ("none", "false")}
    expected = [
        listing.get(shape) or MCP_EXPECTED.get(shape, PROTOCOL) for _method, shape in served["mcp"]
    ]
    _check_rows(mcp_rows, expected)
    names = [r["name"].split(":")[0] for r in mcp_rows]
    assert names == [method for method, _ in served["mcp"]]
    assert Counter(r["error_kind"] for r in mcp_rows)["protocol"] >= 9
