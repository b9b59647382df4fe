"""The official MCP client lists and calls every tool; multi_tool answers quote both tools."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from agent_http import chat_body, request

from qi_load.agent.launch import start_target
from qi_load.agent.mcp_server import TOOL_NAMES

pytestmark = pytest.mark.integration

PROBE = Path(__file__).with_name("agent_mcp_probe.py")
KEEPER = Path(__file__).with_name("agent_mcp_keeper_probe.py")


def test_mcp_client_lists_and_calls_every_tool() -> None:
    with start_target(["--tool-ms", "5"]) as target:
        done = subprocess.run(
            [sys.executable, str(PROBE), f"{target.url}/mcp"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(done.stdout)
        assert report["tools"] == sorted(TOOL_NAMES)
        calls = report["calls"]
        assert not any(call["error"] for call in calls.values())
        assert re.fullmatch(r"Lisbon: -?\d+°C, .*", calls["get_weather"]["text"])
        assert re.search(r"evt-[0-9a-f]{8}", calls["create_calendar_event"]["text"])
        assert "2030-05-06 at 14:00" in calls["create_calendar_event"]["text"]
        assert calls["calculate"]["text"] == "(3 + 4) * 6 = 42"
        assert "qi-sample-app" in calls["read_file"]["text"]
        assert report["refused"].startswith("refused:") and "outside" in report["refused"]

        # The agent's own tool calls go through the same MCP server.
        response = request(
            target.url, body=chat_body("Check the weather in Lisbon and create a calendar event")
        )
        answer = response.json()["choices"][0]["message"]["content"]
        weather = re.search(r"Lisbon: -?\d+°C[^\n]*", answer)
        assert weather is not None and weather.group().startswith(calls["get_weather"]["text"])
        assert re.search(r"Created event evt-[0-9a-f]{8}", answer)
        assert response.json()["qi_agent"]["tools"] == ["get_weather", "create_calendar_event"]
        metrics = request(target.url, "GET", "/metrics").body.decode()
        for tool in ("get_weather", "create_calendar_event"):
            pattern = rf'qi_target_tool_calls_total\{{outcome="ok",tool="{tool}"\}} 1\.0'
            assert re.search(pattern, metrics), tool


def test_agent_session_keeper_reconnects_after_a_restart() -> None:
    with start_target() as target:
        port = int(target.url.rsplit(":", 1)[1])
        probe = subprocess.Popen(
            [sys.executable, str(KEEPER), f"{target.url}/mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert probe.stdout is not None and probe.stdin is not None
            assert probe.stdout.readline().strip() == "CONNECTED"
            target.stop()
            with start_target(["--port", str(port)]):
                probe.stdin.write("go\n")
                probe.stdin.flush()
                out, _ = probe.communicate(timeout=30)
        finally:
            if probe.poll() is None:
                probe.kill()
                probe.wait()
    report = json.loads(out.strip().splitlines()[-1])
    assert report["first"] == "1 + 1 = 2"
    assert report["kept"], "a keep-alive lost the session"
    assert report["after"][-1] == "2 + 3 = 5", report["after"]
