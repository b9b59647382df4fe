"""Phase breakdown from the agent's spans, and the span kind that grew first."""

from __future__ import annotations

import pandas as pd
import pytest

from qi_load.analyze.trace_phases import (
    SpanTiming,
    first_grown,
    phases_frame,
    trace_phases,
    trace_summary,
)

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


def _spans_frame(traces: dict[str, list[SpanTiming]], names: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "trace_id": trace_id,
                "span_id": s.span_id,
                "parent_span_id": s.parent_span_id,
                "phase": s.phase,
                "tool_name": s.tool_name,
                "start_ns": s.start_ns,
                "end_ns": s.end_ns,
                "name": names.get(s.phase, s.phase),
            }
            for trace_id, spans in traces.items()
            for s in spans
        ]
    )


def _agent_trace(tool_ms: float) -> list[SpanTiming]:
    return [
        _span("root", "client", "agent", 0, 100 + tool_ms),
        _span("t", "root", "tool", 5, 5 + tool_ms, "search"),
        _span("c", "root", "llm", 5 + tool_ms, 95 + tool_ms),
    ]


def test_summary_joins_by_trace_id_and_names_the_tool_that_grew() -> None:
    tool_ms = {"a": 10.0, "b": 12.0, "c": 400.0, "d": 420.0}
    traces = {tid: _agent_trace(ms) for tid, ms in tool_ms.items()}
    spans = _spans_frame(traces, {"tool": "execute_tool search", "llm": "chat m"})
    requests = pd.DataFrame(
        {"trace_id": ["a", "b", "c", "d", "zz", ""], "e2e_ms": [120, 130, 520, 540, 50, 60]},
        index=[10, 11, 12, 13, 14, 15],
    )
    stage_of = pd.Series(["low", "low", "high", "high", "high", "high"], index=requests.index)
    summary = trace_summary(requests, stage_of, ["low", "high"], spans, slowest_per_stage=1)
    assert summary is not None
    assert (summary["requests"], summary["joined"]) == (5, 4)  # "" sends no trace
    assert summary["join_rate"] == pytest.approx(0.8)
    low, high = summary["stages"]
    assert (low["n"], low["joined"], high["n"], high["joined"]) == (2, 2, 3, 2)
    assert low["p50_ms"]["tool:search"] == pytest.approx(11.0)
    assert low["p50_ms"]["llm"] == pytest.approx(90.0)
    assert summary["first_grown"] is not None
    assert summary["first_grown"]["component"] == "tool:search"
    assert summary["first_grown"]["stage"] == "high"
    slow_low, slow_high = summary["slowest"]
    assert (slow_low["trace_id"], slow_high["trace_id"]) == ("b", "d")
    assert [(line["depth"], line["name"]) for line in slow_high["spans"]] == [
        (0, "agent"),
        (1, "execute_tool search"),
        (1, "chat m"),
    ]


def test_no_spans_means_no_summary() -> None:
    requests = pd.DataFrame({"trace_id": ["a"], "e2e_ms": [1.0]})
    empty = pd.DataFrame(columns=["trace_id", "span_id"])
    assert trace_summary(requests, pd.Series(["s"]), ["s"], empty) is None
