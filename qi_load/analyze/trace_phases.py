"""The agent's own spans joined to qi-load's requests: where each request's server time went.

Per trace, the outermost LLM spans are the ``llm`` time and the outermost tool spans the
``tool`` time (by tool name); a span nested in an LLM or tool span belongs to it (an HTTP
client span under a ``chat`` span is LLM time). The root span(s) give the agent's time and
what is neither LLM nor tool is ``orchestration``. Parallel tool calls can add up to more
than the wall time; orchestration is then 0, never negative.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import pandas as pd

__all__ = [
    "PHASE_COLUMNS",
    "Growth",
    "SpanTiming",
    "TracePhases",
    "first_grown",
    "phases_frame",
    "trace_phases",
]

PHASE_COLUMNS: Final = ("agent_ms", "llm_ms", "tool_ms", "orchestration_ms")
_WORK: Final = ("llm", "tool")


@dataclass(frozen=True)
class SpanTiming:
    """The part of a span the phase breakdown needs."""

    span_id: str
    parent_span_id: str
    phase: str
    tool_name: str
    start_ns: int
    end_ns: int


@dataclass
class TracePhases:
    """Where one request's server time went, by the agent's spans (milliseconds)."""

    trace_id: str
    agent_ms: float
    llm_ms: float
    tool_ms: float
    orchestration_ms: float
    spans: int
    tools_ms: dict[str, float] = field(default_factory=dict)


def trace_phases(trace_id: str, spans: Sequence[SpanTiming]) -> TracePhases:
    """The phase breakdown of one trace's spans."""
    by_id = {span.span_id: span for span in spans}
    # A trace whose parents all point at each other has no root: its extent is all spans'.
    roots = [span for span in spans if span.parent_span_id not in by_id] or list(spans)
    agent_ms = (max(s.end_ns for s in roots) - min(s.start_ns for s in roots)) / 1e6
    llm_ms = tool_ms = 0.0
    tools_ms: dict[str, float] = defaultdict(float)
    for span in spans:
        if span.phase not in _WORK or _inside_work(span, by_id):
            continue
        duration = max(0, span.end_ns - span.start_ns) / 1e6
        if span.phase == "llm":
            llm_ms += duration
        else:
            tool_ms += duration
            tools_ms[span.tool_name or "?"] += duration
    return TracePhases(
        trace_id=trace_id,
        agent_ms=max(0.0, agent_ms),
        llm_ms=llm_ms,
        tool_ms=tool_ms,
        orchestration_ms=max(0.0, agent_ms - llm_ms - tool_ms),
        spans=len(spans),
        tools_ms=dict(tools_ms),
    )


def _inside_work(span: SpanTiming, by_id: Mapping[str, SpanTiming]) -> bool:
    seen = {span.span_id}
    parent = by_id.get(span.parent_span_id)
    while parent is not None and parent.span_id not in seen:  # a cycle ends the walk
        if parent.phase in _WORK:
            return True
        seen.add(parent.span_id)
        parent = by_id.get(parent.parent_span_id)
    return False


def phases_frame(spans: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-trace phases (one row per trace id) and per-trace tool times (long form).

    ``spans`` has the columns of ``spans.csv``; an empty frame gives empty results.
    """
    rows: list[dict[str, object]] = []
    tool_rows: list[dict[str, object]] = []
    columns = ["span_id", "parent_span_id", "phase", "tool_name", "start_ns", "end_ns"]
    for trace_id, group in spans.groupby("trace_id", sort=False):
        records = [
            SpanTiming(
                str(s), str(p) if isinstance(p, str) else "", str(ph), _name(t), int(a), int(b)
            )
            for s, p, ph, t, a, b in group[columns].itertuples(index=False, name=None)
        ]
        phases = trace_phases(str(trace_id), records)
        rows.append({k: getattr(phases, k) for k in ("trace_id", *PHASE_COLUMNS, "spans")})
        tool_rows.extend(
            {"trace_id": phases.trace_id, "tool_name": name, "tool_ms": ms}
            for name, ms in phases.tools_ms.items()
        )
    per_trace = pd.DataFrame(rows, columns=["trace_id", *PHASE_COLUMNS, "spans"])
    per_tool = pd.DataFrame(tool_rows, columns=["trace_id", "tool_name", "tool_ms"])
    return per_trace, per_tool


def _name(value: object) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Growth:
    """The span kind whose time grew first as load rose."""

    component: str
    stage: str
    baseline_ms: float
    value_ms: float

    @property
    def factor(self) -> float:
        return self.value_ms / self.baseline_ms if self.baseline_ms > 0 else float("inf")


def first_grown(
    stage_p50: Iterable[tuple[str, Mapping[str, float]]],
    *,
    factor: float = 1.5,
    min_increase_ms: float = 5.0,
) -> Growth | None:
    """The first component (``llm``, ``tool:search``, ``orchestration``…) whose p50 grew.

    ``stage_p50`` lists stages in order of rising load with each component's p50; growth is
    judged against the first stage. A component grows when its p50 reaches ``factor`` times
    its baseline and at least ``min_increase_ms`` more (small numbers jitter by large
    factors). Of components that grow at the same stage, the one that grew most wins.
    """
    stages = list(stage_p50)
    if len(stages) < 2:
        return None
    baseline = stages[0][1]
    for stage, values in stages[1:]:
        grown = [
            Growth(name, stage, baseline[name], value)
            for name, value in values.items()
            if name in baseline
            and value >= baseline[name] * factor
            and value - baseline[name] >= min_increase_ms
        ]
        if grown:
            return max(grown, key=lambda g: (g.value_ms - g.baseline_ms, g.component))
    return None
