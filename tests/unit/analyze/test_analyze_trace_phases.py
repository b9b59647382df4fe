"""Phase breakdown from the agent's spans, and the span kind that grew first."""

from __future__ import annotations

import pandas as pd
import pytest

from qi_load.analyze.trace_phases import SpanTiming, first_grown, phases_frame, trace_phases

MS = 1_000_000


def _span(
    span_id: str, parent: str, phase: str, start_ms: float, end_ms: float, tool: str = ""
) -> SpanTiming:
    return SpanTiming(span_id, parent, phase, tool, int(start_ms * MS), int(end_ms * MS))


def test_outermost_llm_and_tool_spans_are_the_phases() -> None:
    spans = [
        _span("root", "client", "agent", 0, 250),
        _span("t1", "root", "tool", 10, 90, "search"),
        _span("h1", "t1", "other", 20, 80),  # an HTTP call inside the tool is tool time
        _span("c1", "root", "llm", 100, 200),
        _span("c2", "c1", "llm", 110, 190),  # a nested chat span is not counted twice
        _span("f", "root", "other", 200, 240),
    ]
    phases = trace_phases("t", spans)
    assert (phases.agent_ms, phases.llm_ms, phases.tool_ms) == (250, 100, 80)
    assert phases.orchestration_ms == 70
    assert phases.tools_ms == {"search": 80}
    assert phases.spans == 6


def test_parallel_tools_never_make_orchestration_negative() -> None:
    spans = [
        _span("root", "", "agent", 0, 100),
        _span("a", "root", "tool", 0, 100, "a"),
        _span("b", "root", "tool", 0, 100, "b"),
    ]
    phases = trace_phases("t", spans)
    assert phases.tool_ms == 200 and phases.orchestration_ms == 0


def test_a_parent_cycle_does_not_hang() -> None:
    spans = [_span("a", "b", "other", 0, 10), _span("b", "a", "tool", 0, 10, "x")]
    phases = trace_phases("t", spans)
    assert (phases.tool_ms, phases.agent_ms) == (10, 10)  # the walk stops; counted once


def test_frame_groups_by_trace() -> None:
    spans = pd.DataFrame(
        {
            "trace_id": ["x", "x", "y"],
            "span_id": ["r", "c", "r2"],
            "parent_span_id": [float("nan"), "r", "p"],
            "phase": ["agent", "llm", "agent"],
            "tool_name": [float("nan"), float("nan"), float("nan")],
            "start_ns": [0, 5 * MS, 0],
            "end_ns": [30 * MS, 25 * MS, 7 * MS],
        }
    )
    per_trace, per_tool = phases_frame(spans)
    assert per_trace.set_index("trace_id")["llm_ms"].to_dict() == {"x": 20.0, "y": 0.0}
    assert per_trace.set_index("trace_id")["agent_ms"].to_dict() == {"x": 30.0, "y": 7.0}
    assert per_tool.empty


def test_the_tool_that_grew_first_is_named() -> None:
    stages = [
        ("1 user", {"llm": 100.0, "tool:search": 80.0, "orchestration": 2.0}),
        ("5 users", {"llm": 104.0, "tool:search": 85.0, "orchestration": 2.5}),
        ("20 users", {"llm": 120.0, "tool:search": 900.0, "orchestration": 9.0}),
        ("40 users", {"llm": 400.0, "tool:search": 2000.0, "orchestration": 9.0}),
    ]
    growth = first_grown(stages)
    assert growth is not None
    assert (growth.component, growth.stage) == ("tool:search", "20 users")
    assert growth.factor == pytest.approx(900 / 80)


def test_small_jitter_is_not_growth() -> None:
    stages = [("a", {"orchestration": 1.0}), ("b", {"orchestration": 3.0})]
    assert first_grown(stages) is None
    assert first_grown(stages[:1]) is None
