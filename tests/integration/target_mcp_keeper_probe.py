"""Run by test_target_mcp in a subprocess: the agent's MCP session keeper survives a restart.

Connects McpToolCaller to URL, calls a tool, prints CONNECTED, waits for a line on stdin
(the test restarts the target on the same port meanwhile), then calls again and prints JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys

from qi_load.target.agent import ToolFailed
from qi_load.target.mcp_client import McpToolCaller


async def main(url: str) -> None:
    caller = McpToolCaller(url, keepalive_s=0.2)
    tools = await caller.connect()
    first = await caller.call("calculate", {"expression": "1 + 1"})
    print("CONNECTED", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    results = []
    for _ in range(40):  # the keeper notices the loss at its next ping, then reconnects
        try:
            results.append(await caller.call("calculate", {"expression": "2 + 3"}))
            break
        except ToolFailed as exc:
            results.append(f"failed: {exc}")
            await asyncio.sleep(0.25)
    await caller.close()
    print(json.dumps({"tools": tools, "first": first, "after": results}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
