"""Locustfile: MCP users timing initialize, tools/list and tools/call."""

from qi_load.locustfiles.mcp import *  # noqa: F403
