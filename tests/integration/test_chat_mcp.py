"""The MCP client against the reference agent's real MCP server (official SDK) at /mcp."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from qi_load.agent.launch import TargetProcess, start_target
from qi_load.generate.mcp import McpClient

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def agent() -> Iterator[TargetProcess]:
    with start_target(["--tool-ms", "20"]) as target:
        yield target


def test_initialize_list_and_call_tools(agent: TargetProcess) -> None:
    with McpClient(agent.url + "/mcp") as client:
        init = client.initialize()
        assert init.ok, init.error
        assert client.session_id and client.protocol_version
        assert init.result is not None and "serverInfo" in init.result
        tools = client.list_tools()
        assert tools.ok and tools.result is not None
        names = {tool["name"] for tool in tools.result["tools"]}
        assert {"get_weather", "create_calendar_event"} <= names
        weather = client.call_tool("get_weather", {"city": "Paris"})
        assert weather.ok and re.search(r"\d+°C", weather.text), weather.text
        assert weather.latency_ms is not None and weather.latency_ms >= 20
        event = client.call_tool("create_calendar_event", {"title": "run", "date": "2026-01-02"})
        assert event.ok and re.search(r"evt-[0-9a-f]{8}", event.text), event.text
        missing = client.call_tool("get_weather", {})
        assert not missing.ok and missing.error_kind == "protocol"
        again = client.call_tool("get_weather", {"city": "Berlin"})
        assert again.ok, again.error


def test_requests_without_a_session_fail_cleanly(agent: TargetProcess) -> None:
    with McpClient(agent.url + "/mcp") as client:
        result = client.list_tools()  # no initialize: the server refuses
        assert not result.ok and result.error_kind in ("http", "protocol"), result
        assert client.initialize().ok
