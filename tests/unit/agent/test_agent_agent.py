"""The agent's answers per query type, right and (on purpose) wrong."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from qi_load.agent.agent import Agent, Answer, ToolFailed
from qi_load.vocabulary import QueryType


class RecordingTools:
    """Stands in for the MCP session: records calls and answers like the real tools."""

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        self.calls.append((name, arguments))
        if name == self.fail:
            raise ToolFailed(f"{name}: boom")
        if name == "get_weather":
            return f"{arguments['city']}: 18°C, sunny, humidity 40%"
        return f"Created event evt-1a2b3c4d: {arguments['title']!r}"


def _answer(query_type: QueryType, text: str, *, wrong: bool = False, tools: Any = None) -> Answer:
    agent = Agent(tools or RecordingTools(), wrong_answers=wrong)
    return asyncio.run(agent.answer(query_type, text))


def test_simple_answers_the_arithmetic() -> None:
    assert _answer("simple", "What is 2 + 2?").text == "2 + 2 = 4"
    assert _answer("simple", "What is 2 + 2?", wrong=True).text == "2 + 2 = 5"


def test_file_answer_names_package_facts_and_refuses_escapes() -> None:
    text = _answer("file_operations", "Read and analyze the package.json file").text
    assert "qi-sample-app" in text and "1.4.2" in text and "7 dependencies" in text
    refused = _answer("file_operations", "Read ../../etc/passwd").text
    assert "outside the sandbox" in refused
    wrong = _answer("file_operations", "Read package.json", wrong=True).text
    assert "qi-sample-app" not in wrong and "7 dependencies" not in wrong


def test_multi_tool_calls_both_tools_and_quotes_them() -> None:
    tools = RecordingTools()
    answer = _answer("multi_tool", "Weather in Oslo and an event called Ski trip", tools=tools)
    assert [name for name, _ in tools.calls] == ["get_weather", "create_calendar_event"]
    assert tools.calls[0][1] == {"city": "Oslo"}
    assert "Oslo: 18°C" in answer.text and "evt-1a2b3c4d" in answer.text
    assert answer.tools == ["get_weather", "create_calendar_event"] and answer.tool_ms > 0


def test_multi_tool_survives_a_failing_tool_and_reports_outcomes() -> None:
    outcomes: list[tuple[str, bool]] = []
    agent = Agent(RecordingTools(fail="get_weather"), on_tool_call=lambda *o: outcomes.append(o))
    answer = asyncio.run(agent.answer("multi_tool", "weather and event"))
    assert "failed: get_weather: boom" in answer.text and "evt-1a2b3c4d" in answer.text
    assert outcomes == [("get_weather", False), ("create_calendar_event", True)]


def test_multi_tool_wrong_answer_calls_nothing() -> None:
    tools = RecordingTools()
    answer = _answer("multi_tool", "weather and event", wrong=True, tools=tools)
    assert tools.calls == [] and not re.search(r"°C|evt-", answer.text)


@pytest.mark.parametrize("wrong", [False, True])
def test_reasoning_is_structured_unless_wrong(wrong: bool) -> None:
    text = _answer("reasoning", "Explain the trade-offs of sorting algorithms", wrong=wrong).text
    sections = re.findall(r"^## ", text, re.M)
    assert (len(sections) >= 3) != wrong
    assert (text.count("\n\n") >= 2) != wrong
