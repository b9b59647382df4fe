"""Run by test_agent_mcp in a subprocess (asyncio): the official MCP client against /mcp.

Prints one JSON object: the listed tools and each tool's call result.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from mcp import Client
from mcp.types import TextContent

ARGUMENTS: dict[str, dict[str, Any]] = {
    "get_weather": {"city": "Lisbon"},
    "create_calendar_event": {"title": "Design review", "date": "2030-05-06", "time": "14:00"},
    "calculate": {"expression": "(3 + 4) * 6"},
    "read_file": {"path": "package.json"},
}


async def main(url: str) -> None:
    report: dict[str, Any] = {"calls": {}}
    async with Client(url, cache=None) as client:
        listed = await client.list_tools()
        report["tools"] = sorted(tool.name for tool in listed.tools)
        for tool in listed.tools:
            result = await client.call_tool(tool.name, ARGUMENTS[tool.name])
            text = "".join(p.text for p in result.content if isinstance(p, TextContent))
            report["calls"][tool.name] = {"error": result.is_error, "text": text}
        refused = await client.call_tool("read_file", {"path": "../../../etc/passwd"})
        report["refused"] = "".join(p.text for p in refused.content if isinstance(p, TextContent))
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
