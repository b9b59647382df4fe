"""The agent's MCP tool server (official `mcp` SDK), served over streamable HTTP at `/mcp`."""

from __future__ import annotations

import asyncio
from typing import Final

from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from qi_load.agent import tools

__all__ = ["LOOPBACK_HOSTS", "TOOL_NAMES", "build_mcp_server", "mcp_asgi_app"]

TOOL_NAMES: Final = ("get_weather", "create_calendar_event", "calculate", "read_file")
LOOPBACK_HOSTS: Final = ("127.0.0.1", "localhost", "::1")


def build_mcp_server(tool_ms: float) -> MCPServer:
    """An MCP server with the agent's tools; the two remote-API tools take `tool_ms` each."""
    server = MCPServer(
        "qi-reference-tools",
        version="1.0.0",
        instructions="Tools of the qi-load reference agent: weather, calendar, calculator, files.",
        log_level="WARNING",
    )
    calendar = tools.Calendar()
    delay = tool_ms / 1000.0

    @server.tool(description="Current weather of a city; the result contains its temperature.")
    async def get_weather(city: str) -> str:
        await asyncio.sleep(delay)  # the remote weather API
        return tools.weather_report(city)

    @server.tool(description="Create a calendar event; the result contains its id (evt-...).")
    async def create_calendar_event(title: str, date: str, time: str = "09:00") -> str:
        await asyncio.sleep(delay)  # the remote calendar API
        return calendar.create(title, date, time)

    @server.tool(description="Evaluate an arithmetic expression, e.g. '2 + 2'.")
    def calculate(expression: str) -> str:
        return tools.calculate(expression)

    @server.tool(description="Read and summarize a file of the sandbox project.")
    def read_file(path: str) -> str:
        return tools.read_file(path)

    return server


def mcp_asgi_app(
    server: MCPServer, host: str, *, max_sessions: int, session_idle_s: float
) -> tuple[StreamableHTTPASGIApp, StreamableHTTPSessionManager]:
    """The streamable-HTTP endpoint and its session manager (run it in the app's lifespan).

    DNS-rebinding protection stays on for loopback binds; a service bound to another
    interface (a pod) is reached under names we cannot list, so it is off there. At
    `max_sessions` open sessions a new one is refused with 503 ("Too many open sessions");
    a session idle for `session_idle_s` is ended (its id then answers 404).
    """
    security = (
        None
        if host in LOOPBACK_HOSTS
        else TransportSecuritySettings(enable_dns_rebinding_protection=False)
    )
    server.streamable_http_app(
        streamable_http_path="/mcp",
        transport_security=security,
        host=host,
        max_sessions=max_sessions,
        session_idle_timeout=session_idle_s,
    )
    manager = server.session_manager
    return StreamableHTTPASGIApp(manager), manager
