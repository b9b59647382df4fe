"""The instrumented reference agent: its OTLP spans agree with its Server-Timing."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator

import pandas as pd
import pytest
from agent_http import chat_body, request
from otlp_sink import OtlpSink, otlp_sink

from qi_load.agent.launch import TargetProcess, spawn_target
from qi_load.analyze.trace_phases import phases_frame
from qi_load.generate.chat import parse_server_timing
from qi_load.trace.context import RequestTrace
from qi_load.trace.spans import SPAN_COLUMNS

PROMPTS = {
    "simple": "What is 17 * 3?",
    "file": "Read package.json and tell me the version.",
    "tools": "What's the weather in Paris, and add an event 'Team sync' tomorrow at 10:00?",
}


@pytest.fixture
def traced_agent() -> Iterator[tuple[TargetProcess, OtlpSink]]:
    with otlp_sink() as sink:
        agent = spawn_target(
            [
                "--otlp-endpoint", sink.url,
                "--timing", "all=30,2,10",
                "--tool-ms", "15",
                "--slow-tool", "get_weather=20",
            ]
        )  # fmt: skip
        try:
            yield agent, sink
        finally:
            agent.stop()


def _wait_for(sink: OtlpSink, traces: set[str], timeout: float = 15.0) -> pd.DataFrame:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = pd.DataFrame([row.as_row() for row in sink.rows], columns=list(SPAN_COLUMNS))
        if traces <= set(frame["trace_id"]) and len(frame) >= 2 * len(traces):
            return frame
        time.sleep(0.2)
    raise AssertionError(f"spans of {len(traces)} traces did not all arrive in {timeout} s")


def test_span_phases_agree_with_server_timing(
    traced_agent: tuple[TargetProcess, OtlpSink],
) -> None:
    agent, sink = traced_agent
    timing: dict[str, dict[str, float]] = {}
    for round_ in range(6):
        for prompt in PROMPTS.values():
            trace = RequestTrace.new()
            response = request(
                agent.url, body=chat_body(prompt, stream=round_ % 2 == 0),
                headers=trace.headers({"qi.run": "t"}),
            )  # fmt: skip
            assert response.status == 200
            header = response.headers.get("server-timing")
            if header is None:  # streamed: the phases ride on the last chunk
                last = [e for _, e in response.events if b"server_timing" in e][-1]
                phases = json.loads(last.split(b"data: ", 1)[1])["server_timing"]
            else:
                phases = parse_server_timing(header)
            timing[trace.trace_id] = phases
    spans = _wait_for(sink, set(timing))
    assert set(spans["service"]) == {"qi-load-reference-agent"}
    per_trace, per_tool = phases_frame(spans)
    per_trace = per_trace.set_index("trace_id").loc[list(timing)]
    diffs: dict[str, list[float]] = {"llm": [], "tool": [], "other": []}
    for trace_id, phases in timing.items():
        row = per_trace.loc[trace_id]
        diffs["llm"].append(abs(row["llm_ms"] - phases["llm"]))
        diffs["tool"].append(abs(row["tool_ms"] - phases["tool"]))
        diffs["other"].append(abs(row["orchestration_ms"] - phases["request"] - phases["format"]))
    for phase, values in diffs.items():
        assert statistics.median(values) < 1.0, (phase, values)
    assert {"get_weather", "create_calendar_event", "calculate", "read_file"} <= set(
        per_tool["tool_name"]
    )
    # Every agent span is the child of the client's span id: the join is by trace id.
    roots = spans[spans["phase"] == "agent"]
    assert len(roots) == len(timing)
