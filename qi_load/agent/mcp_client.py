"""The agent's own MCP client: one long-lived session to the tool server over streamable HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any, Final

from mcp import Client
from mcp.types import TextContent

from qi_load.agent.agent import ToolFailed

__all__ = ["KEEPALIVE_S", "McpToolCaller"]

KEEPALIVE_S: Final = 60.0
"""Keep-alive interval: far below the SDK's 30-minute idle expiry of server sessions."""
_RETRY_S: Final = 1.0


class McpToolCaller:
    """Calls tools through a real MCP session (JSON-RPC over HTTP), shared by all requests.

    One keeper task owns the session (the SDK's task groups must be entered and left by the
    same task), lists the tools every `keepalive_s` so it never expires in a long soak, and
    opens a new one if it is lost. Concurrent `call`s from request tasks are multiplexed on
    the current session.
    """

    def __init__(self, url: str, keepalive_s: float = KEEPALIVE_S) -> None:
        self.url = url
        self.keepalive_s = keepalive_s
        self._client: Client | None = None
        self._opened = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None

    async def connect(self, timeout_s: float = 30.0) -> list[str]:
        """Start the keeper, wait for the first session; returns the server's tool names."""
        self._keeper = asyncio.get_running_loop().create_task(self._keep())
        await asyncio.wait_for(self._opened.wait(), timeout_s)
        assert self._client is not None
        listed = await self._client.list_tools()
        return [tool.name for tool in listed.tools]

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        self._client = None

    async def _keep(self) -> None:
        while True:
            try:
                async with Client(self.url, cache=None) as client:
                    self._client = client
                    self._opened.set()
                    while True:
                        await asyncio.sleep(self.keepalive_s)
                        # Not ping: protocol 2026-07-28 removed it, and the SDK's own server
                        # answers "Method not found", which ended the session every minute.
                        await client.list_tools()
            except Exception as exc:
                # A lost session must not take the agent down: report it and open another.
                print(f"qi-load target: MCP session lost ({exc!r}); reconnecting", file=sys.stderr)
            self._client = None
            await asyncio.sleep(_RETRY_S)

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        client = self._client
        if client is None:
            raise ToolFailed(f"{name}: MCP session is not open")
        try:
            result = await client.call_tool(name, arguments)
        except Exception as exc:
            # Whatever breaks in the transport or the SDK, the agent answers on (quoting the
            # failure) instead of failing the chat request.
            raise ToolFailed(f"{name}: {type(exc).__name__}: {exc}") from None
        text = "".join(part.text for part in result.content if isinstance(part, TextContent))
        if result.is_error:
            raise ToolFailed(f"{name}: {text}")
        return text
