"""The agent's own MCP client: one long-lived session to the tool server over streamable HTTP."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from mcp import Client
from mcp.types import TextContent

from qi_load.target.agent import ToolFailed

__all__ = ["McpToolCaller"]


class McpToolCaller:
    """Calls tools through a real MCP session (JSON-RPC over HTTP), shared by all requests.

    Enter and leave it from the same task (the server's main task): the SDK's task groups
    require that. Concurrent `call`s from request tasks are multiplexed on the session.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._stack = AsyncExitStack()
        self._client: Client | None = None

    async def connect(self) -> list[str]:
        """Open the session; returns the server's tool names."""
        self._client = await self._stack.enter_async_context(Client(self.url, cache=None))
        listed = await self._client.list_tools()
        return [tool.name for tool in listed.tools]

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        if self._client is None:
            raise ToolFailed(f"{name}: MCP session is not open")
        try:
            result = await self._client.call_tool(name, arguments)
        except Exception as exc:
            # Whatever breaks in the transport or the SDK, the agent answers on (quoting the
            # failure) instead of failing the chat request.
            raise ToolFailed(f"{name}: {type(exc).__name__}: {exc}") from None
        text = "".join(part.text for part in result.content if isinstance(part, TextContent))
        if result.is_error:
            raise ToolFailed(f"{name}: {text}")
        return text
