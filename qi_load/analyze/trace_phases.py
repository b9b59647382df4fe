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
from typing import Any, Final, TypedDict

import pandas as pd

from qi_load.metrics.percentile import percentile

__all__ = [
    "PHASE_COLUMNS",
    "Growth",
    "SlowRequest",
    "SpanLine",
    "SpanTiming",
    "StagePhases",
    "TracePhases",
    "TraceSummary",
    "first_grown",
    "phases_frame",
    "span_tree",
    "trace_phases",
    "trace_summary",
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


class StagePhases(TypedDict):
    """Per stage: how many requests joined their agent trace, and each phase's p50 (ms)."""

    stage: str
    n: int
    joined: int
    p50_ms: dict[str, float]


class SpanLine(TypedDict):
    """One span of a slow request's tree, relative to the trace's first span."""

    depth: int
    name: str
    phase: str
    start_ms: float
    duration_ms: float


class SlowRequest(TypedDict):
    stage: str
    trace_id: str
    e2e_ms: float
    spans: list[SpanLine]


class TraceSummary(TypedDict):
    """What the agent's own spans say about the run (``summary.json``'s ``traces``)."""

    requests: int
    joined: int
    join_rate: float
    spans: int
    stages: list[StagePhases]
    first_grown: dict[str, Any] | None
    slowest: list[SlowRequest]


def trace_summary(
    requests: pd.DataFrame,
    stage_of: pd.Series,
    stage_order: Sequence[str],
    spans: pd.DataFrame,
    *,
    slowest_per_stage: int = 3,
) -> TraceSummary | None:
    """Join finished requests to their agent traces by trace id, per stage.

    ``requests`` has ``trace_id`` and ``e2e_ms``; ``stage_of`` gives each request's stage
    (the report's own stage membership, ``NaN`` outside every stage); stages are judged in
    ``stage_order`` (rising load). None when the run has no spans.
    """
    if spans.empty or "trace_id" not in requests:
        return None
    per_trace, per_tool = phases_frame(spans)
    # Three columns of the requests with an id, and only those with spans into the merge:
    # at 10 million rows, a copy of every column or a string object per row costs gigabytes.
    ids = requests["trace_id"].astype("string")
    has_id = (ids.notna() & (ids != "").fillna(False)).to_numpy(dtype=bool)
    stages_of = stage_of.reindex(requests.index)
    with_spans = has_id & ids.isin(per_trace["trace_id"]).to_numpy(dtype=bool)
    traced = requests.loc[with_spans, ["trace_id", "e2e_ms"]].assign(stage=stages_of[with_spans])
    joined = traced.merge(per_trace, on="trace_id", how="inner")
    per_stage = stages_of[has_id].value_counts()
    n_traced = int(has_id.sum())
    tools = per_tool.pivot_table(
        index="trace_id", columns="tool_name", values="tool_ms", aggfunc="sum"
    )
    stages: list[StagePhases] = []
    growth_input: list[tuple[str, dict[str, float]]] = []
    for stage in stage_order:
        rows = joined[joined["stage"] == stage]
        n = int(per_stage.get(stage, 0))
        p50 = _phase_p50(rows, tools)
        stages.append(StagePhases(stage=stage, n=n, joined=len(rows), p50_ms=p50))
        if p50:
            growth_input.append((stage, p50))
    growth = first_grown(growth_input)
    return TraceSummary(
        requests=n_traced,
        joined=len(joined),
        join_rate=len(joined) / n_traced if n_traced else 0.0,
        spans=len(spans),
        stages=stages,
        first_grown=None
        if growth is None
        else {
            "component": growth.component,
            "stage": growth.stage,
            "baseline_ms": growth.baseline_ms,
            "value_ms": growth.value_ms,
        },
        slowest=_slowest(joined, spans, stage_order, slowest_per_stage),
    )


def _phase_p50(rows: pd.DataFrame, tools: pd.DataFrame) -> dict[str, float]:
    if rows.empty:
        return {}
    p50: dict[str, float] = {}
    for column, name in (("llm_ms", "llm"), ("orchestration_ms", "orchestration")):
        value = percentile(rows[column].to_numpy(), 50)
        if value is not None:
            p50[name] = value
    in_stage = tools.reindex(rows["trace_id"])
    for tool in tools.columns:
        value = percentile(in_stage[tool].dropna().to_numpy(), 50)
        if value is not None:
            p50[f"tool:{tool}"] = value
    return p50


def _slowest(
    joined: pd.DataFrame, spans: pd.DataFrame, stage_order: Sequence[str], count: int
) -> list[SlowRequest]:
    slow: list[SlowRequest] = []
    by_trace = spans.groupby("trace_id", sort=False)
    for stage in stage_order:
        rows = joined[joined["stage"] == stage].nlargest(count, "e2e_ms")
        for trace_id, e2e in zip(rows["trace_id"], rows["e2e_ms"], strict=True):
            slow.append(
                SlowRequest(
                    stage=stage,
                    trace_id=str(trace_id),
                    e2e_ms=float(e2e),
                    spans=span_tree(by_trace.get_group(trace_id)),
                )
            )
    return slow


def span_tree(spans: pd.DataFrame) -> list[SpanLine]:
    """One trace's spans depth-first, children by start time, times from the first span."""
    origin = int(spans["start_ns"].min())
    rows = list(
        spans[["span_id", "parent_span_id", "name", "phase", "start_ns", "end_ns"]].itertuples(
            index=False, name=None
        )
    )
    ids = {row[0] for row in rows}
    children: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        parent = row[1] if isinstance(row[1], str) and row[1] in ids else ""
        children[parent].append(row)
    lines: list[SpanLine] = []
    stack = [(row, 0) for row in sorted(children[""], key=lambda r: r[4], reverse=True)]
    seen: set[str] = set()
    while stack:
        row, depth = stack.pop()
        if row[0] in seen:
            continue
        seen.add(row[0])
        lines.append(
            SpanLine(
                depth=depth,
                name=str(row[2]),
                phase=str(row[3]),
                start_ms=(int(row[4]) - origin) / 1e6,
                duration_ms=max(0, int(row[5]) - int(row[4])) / 1e6,
            )
        )
        kids = sorted(children[row[0]], key=lambda r: r[4], reverse=True)
        stack.extend((kid, depth + 1) for kid in kids)
    return lines
