"""Run by test_agent_mcp in a subprocess: the agent's MCP session keeper survives a restart.

Connects McpToolCaller to URL, calls a tool, checks that keep-alives keep the session, prints
CONNECTED, waits for a line on stdin
(the test restarts the target on the same port meanwhile), then calls again and prints JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys

from qi_load.agent.agent import ToolFailed
from qi_load.agent.mcp_client import McpToolCaller


async def main(url: str) -> None:
    caller = McpToolCaller(url, keepalive_s=0.2)
    tools = await caller.connect()
    first = await caller.call("calculate", {"expression": "1 + 1"})
    session = caller._client
    await asyncio.sleep(1.0)  # five keep-alives: the session must survive them
    kept = caller._client is session
    print("CONNECTED", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    results = []
    for _ in range(40):  # the keeper notices the loss at its next keep-alive, then reconnects
        try:
            results.append(await caller.call("calculate", {"expression": "2 + 3"}))
            break
        except ToolFailed as exc:
            results.append(f"failed: {exc}")
            await asyncio.sleep(0.25)
    await caller.close()
    print(json.dumps({"tools": tools, "first": first, "kept": kept, "after": results}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
