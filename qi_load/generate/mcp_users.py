"""A Locust user that measures an MCP server: ``initialize``, ``tools/list`` and ``tools/call``.

Each user holds one MCP session over streamable HTTP (``--mcp-url``, default ``HOST/mcp``).
It lists the server's tools once, then calls the tools it knows arguments for — the
reference agent's tools are built in, others come from ``--mcp-call NAME=JSON`` — and
re-initializes a session every ``--mcp-session-calls`` calls, so session setup stays in
the measurement. Every exchange is one record with ``query_type = mcp`` and the method (and
tool) as its name; ``e2e_ms`` is send to JSON-RPC response (or to the failure).
``--connect-timeout`` and ``--request-timeout`` bound each exchange as they bound a chat
request.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Final

from locust import User, task

from qi_load.errors import QiLoadError
from qi_load.generate import options as load_options
from qi_load.generate.mcp import McpClient, McpResult
from qi_load.generate.quality import quality_mode
from qi_load.generate.run_state import run_state
from qi_load.generate.shared_options import mcp_url
from qi_load.generate.users import cancellation_recorded, idled_past_plan, report_record
from qi_load.record.schema import RequestRecord
from qi_load.vocabulary import MCP

__all__ = ["BUILTIN_CALLS", "McpUser", "add_arguments", "parse_mcp_calls"]

ToolCheck = Callable[[str], bool]

BUILTIN_CALLS: Final[dict[str, tuple[dict[str, Any], ToolCheck]]] = {
    "get_weather": ({"city": "Paris"}, lambda text: re.search(r"-?\d+ ?°C", text) is not None),
    "create_calendar_event": (
        {"title": "Load test sync", "date": "2026-12-01", "time": "10:00"},
        lambda text: re.search(r"evt-[0-9a-f]+", text) is not None,
    ),
    "calculator": ({"expression": "17 * 23"}, lambda text: "391" in text),
    "read_file": ({"path": "package.json"}, lambda text: "qi-sample-app" in text),
}
"""Arguments and a result check for the reference agent's tools."""


def parse_mcp_calls(items: list[str]) -> dict[str, tuple[dict[str, Any], ToolCheck]]:
    """``NAME=JSON`` items (from ``--mcp-call``) as tool calls whose result must not be empty."""
    calls: dict[str, tuple[dict[str, Any], ToolCheck]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise QiLoadError(f"--mcp-call: expected NAME=JSON, got {item!r}")
        try:
            arguments = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise QiLoadError(f"--mcp-call {name}: arguments are not JSON ({exc.msg})") from None
        if not isinstance(arguments, dict):
            raise QiLoadError(f"--mcp-call {name}: arguments must be a JSON object")
        calls[name] = (arguments, lambda text: bool(text.strip()))
    return calls


def add_arguments(parser: Any) -> None:
    """Add the MCP users' options to Locust's parser."""
    load_options.add_arguments(parser, [load_options.MCP])


class McpUser(User):
    """One MCP client session per user; calls every known tool the server lists in turn."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.qi = run_state(environment)
        options = self.qi.options
        self.url = mcp_url(options, self.host or "")
        self.calls = {**BUILTIN_CALLS, **parse_mcp_calls(options.mcp_call)}
        self.session_calls = max(1, options.mcp_session_calls)
        self.client = McpClient(
            self.url,
            connect_timeout=options.connect_timeout,
            total_timeout=options.request_timeout,
            clock=self.qi.clock.now,
        )
        self.tools: list[str] = []
        self._calls_in_session = 0
        self._next_tool = 0
        self.user_id = self.qi.next_user_id()
        self.rng = random.Random()

    def on_start(self) -> None:
        self.qi.clock.wait_synced()

    def on_stop(self) -> None:
        self.client.close()

    def wait_time(self) -> float:
        scenario = self.qi.scenario
        return scenario.think_time.sample(self.rng) if scenario else 0.0

    @task
    def exercise(self) -> None:
        if idled_past_plan(self.qi):
            return
        self.client.baggage = self.qi.trace_baggage(self.user_id, "mcp")
        if (
            self.client.session_id is None
            or not self.tools  # a list without a known tool: ask again, never call none
            or self._calls_in_session >= self.session_calls
        ):
            self._calls_in_session = 0
            with self._cancellable("initialize"):
                initialized = self.client.initialize()
            if not self._record(initialized, "initialize"):
                return
            with self._cancellable("tools/list"):
                listed = self.client.list_tools()
            self.tools = [name for name in listed.tool_names if name in self.calls]
            if not self._record(listed, "tools/list", ok=bool(self.tools)):
                return
        tool = self.tools[self._next_tool % len(self.tools)]
        self._next_tool += 1
        self._calls_in_session += 1
        arguments, check = self.calls[tool]
        with self._cancellable(f"tools/call:{tool}"):
            result = self.client.call_tool(tool, arguments)
        self._record(result, f"tools/call:{tool}", ok=check(result.text) if result.ok else None)

    def _cancellable(self, name: str) -> AbstractContextManager[None]:
        return cancellation_recorded(self.qi, user_id=self.user_id, query_type=MCP, name=name)

    def _record(self, result: McpResult, name: str, ok: bool | None = True) -> bool:
        """Record one exchange; ``ok`` is the check of a successful one's result. Returns
        whether the session can go on (a protocol success whose result passed)."""
        checked = result.ok and quality_mode(self.qi.options) != "off"
        quality = ok if checked else None
        passed = result.ok and ok is not False
        stage, users = self.qi.stage_now(result.wall_send)
        record = RequestRecord(
            ts_sched=result.wall_send,
            ts_start=result.wall_send,
            worker=self.qi.worker_id,
            user_id=self.user_id,
            query_type=MCP,
            name=name,
            stage=stage,
            users=users,
            ok=result.ok,
            error_kind=result.error_kind if not result.ok else "none",
            status_code=result.status_code,
            e2e_ms=result.latency_ms,
            quality_ok=quality,
            bytes=result.bytes,
            trace_id=result.trace_id,
            error=result.error or ("" if passed else f"{name}: unexpected result"),
        )
        report_record(self.environment, self.qi, record)
        if not result.ok:
            # A broken session cannot be trusted: start a new one on the next task.
            self.client.session_id = None
        return passed
