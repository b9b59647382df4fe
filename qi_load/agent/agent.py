"""The agent's work per query type: arithmetic, code, sandboxed files, MCP tools, reasoning."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from qi_load.agent import tools
from qi_load.agent.arith import format_number, solve
from qi_load.agent.codegen import code_answer
from qi_load.agent.cues import cue_text
from qi_load.agent.reasoning import reasoning_answer
from qi_load.agent.sandbox import SandboxError, find_path, read_sandbox_file, summarize
from qi_load.vocabulary import QueryType

__all__ = ["Agent", "Answer", "ToolCaller", "ToolFailed"]


class ToolFailed(Exception):
    """A tool call that did not return a result (transport error or tool error)."""


class ToolCaller(Protocol):
    """Calls a named tool with arguments and returns its text result (ToolFailed otherwise)."""

    async def call(self, name: str, arguments: dict[str, Any]) -> str: ...


@dataclass
class Answer:
    """What the agent will say, and the tool work it took to know it."""

    text: str
    tool_ms: float = 0.0
    tools: list[str] = field(default_factory=list)
    # (tool, ms) per call in call order: the spans of an instrumented agent.
    tool_calls: list[tuple[str, float]] = field(default_factory=list)


class Agent:
    """Does each query type's work for real; `wrong_answers` makes every answer fail its check."""

    def __init__(
        self,
        tool_caller: ToolCaller,
        *,
        wrong_answers: bool = False,
        on_tool_call: Callable[[str, bool], None] | None = None,
        slow_tools: Mapping[str, float] | None = None,
    ) -> None:
        self._tools = tool_caller
        self._wrong = wrong_answers
        self._on_tool_call = on_tool_call or (lambda name, ok: None)
        self._slow_tools = dict(slow_tools or {})
        self._tools_in_flight: Counter[str] = Counter()

    async def answer(self, query_type: QueryType, text: str) -> Answer:
        """The answer to `text` (read at both ends when long, as `classify` reads it)."""
        started = time.perf_counter()
        text = cue_text(text)
        if query_type == "multi_tool":
            answer = await self._multi_tool(text)
        elif query_type == "file_operations":
            answer = self._file(text)
        elif query_type == "code_generation":
            answer = Answer(code_answer(text, wrong=self._wrong))
        elif query_type == "reasoning":
            answer = Answer(reasoning_answer(text, wrong=self._wrong))
        else:
            answer = self._simple(text)
        if answer.tools and not answer.tool_calls:
            # A local tool: its work was the answer itself.
            await self._contend(answer.tools[0])
            answer.tool_calls = [(answer.tools[0], (time.perf_counter() - started) * 1000.0)]
        if answer.tools:
            answer.tool_ms = (time.perf_counter() - started) * 1000.0
        return answer

    async def _contend(self, tool: str) -> None:
        """A tool slowed by its own concurrency: ms per call in flight, this one included."""
        per_call_ms = self._slow_tools.get(tool)
        if not per_call_ms:
            return
        self._tools_in_flight[tool] += 1
        try:
            await asyncio.sleep(per_call_ms * self._tools_in_flight[tool] / 1000.0)
        finally:
            self._tools_in_flight[tool] -= 1

    def _simple(self, text: str) -> Answer:
        solved = solve(text)
        if solved is None:
            return Answer(
                "Short answer: I can work out arithmetic exactly (for example 2 + 2 = 4); "
                "for this question I have no tool, so I would check a reliable source."
            )
        expression, value = solved
        if self._wrong:
            value = value + 1
        return Answer(f"{expression} = {format_number(value)}", tools=["calculate"])

    def _file(self, text: str) -> Answer:
        path = find_path(text) or "package.json"
        if self._wrong:
            return Answer(
                f"I read `{path}`. The package is **sample-app**, version **0.0.1**. "
                "It declares 2 dependencies.",
                tools=["read_file"],
            )
        try:
            summary = summarize(path, read_sandbox_file(path))
        except SandboxError as exc:
            return Answer(
                f"I can't read that file: {exc}. I can only read files inside the project sandbox.",
                tools=["read_file"],
            )
        return Answer(f"I read `{path}` from the project sandbox. {summary}", tools=["read_file"])

    async def _multi_tool(self, text: str) -> Answer:
        if self._wrong:
            return Answer("The weather should be fine, and I have noted your event.")
        city = tools.extract_city(text)
        title = tools.extract_event_title(text)
        date, clock = tools.extract_when(text, dt.date.today())
        results: list[str] = []
        calls: list[tuple[str, float]] = []
        for name, arguments in (
            ("get_weather", {"city": city}),
            ("create_calendar_event", {"title": title, "date": date, "time": clock}),
        ):
            started = time.perf_counter()
            try:
                await self._contend(name)
                results.append(await self._tools.call(name, arguments))
            except ToolFailed as exc:
                results.append(f"(failed: {exc})")
                self._on_tool_call(name, False)
            else:
                self._on_tool_call(name, True)
            calls.append((name, (time.perf_counter() - started) * 1000.0))
        weather, event = results
        return Answer(
            "I used two tools.\n\n"
            f"1. **get_weather** returned: {weather}\n"
            f"2. **create_calendar_event** returned: {event}\n\n"
            f"So the current weather is {weather}, and your event is in the calendar.",
            tools=["get_weather", "create_calendar_event"],
            tool_calls=calls,
        )
