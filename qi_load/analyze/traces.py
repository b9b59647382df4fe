"""The agent's spans of a run (``spans.csv``) read back and joined to its requests by stage."""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from qi_load.analyze.load import RunData
from qi_load.analyze.stages import stage_windows
from qi_load.analyze.trace_phases import TraceSummary, trace_summary
from qi_load.metrics.window import ends_in
from qi_load.record.rundir import SPANS_CSV

__all__ = ["SPAN_DTYPES", "read_spans", "run_traces"]

# The columns of qi_load.trace.spans.SPAN_COLUMNS with the types the join needs; importing
# that module would bring protobuf into every report.
SPAN_DTYPES: Final = {
    "trace_id": "string",
    "span_id": "string",
    "parent_span_id": "string",
    "name": "string",
    "phase": "string",
    "tool_name": "string",
    "start_ns": "int64",
    "end_ns": "int64",
}


def read_spans(run: RunData) -> pd.DataFrame:
    """The run's spans (empty when the agent sent none); unreadable rows are a warning."""
    path = run.path / SPANS_CSV
    if not path.exists():
        return pd.DataFrame(columns=list(SPAN_DTYPES))
    try:
        spans = pd.read_csv(path, usecols=list(SPAN_DTYPES), dtype=SPAN_DTYPES)
    except (ValueError, pd.errors.ParserError) as exc:
        run.warnings.append(f"{path}: unreadable, agent spans left out ({exc})")
        return pd.DataFrame(columns=list(SPAN_DTYPES))
    return (
        spans.astype(object)
        .where(spans.notna(), None)
        .astype({"start_ns": "int64", "end_ns": "int64"})
    )


def run_traces(run: RunData) -> TraceSummary | None:
    """Requests joined to the agent's spans, per stage window (the report's membership)."""
    spans = read_spans(run)
    requests = run.requests
    if spans.empty or requests.empty or "trace_id" not in requests:
        return None
    ends = requests["ts_end"].to_numpy(dtype=np.float64)
    labels = np.full(len(requests), None, dtype=object)
    windows = stage_windows(run)
    for window in windows:
        labels[ends_in(ends, window.t0, window.t1)] = window.name
    stage_of = pd.Series(labels, index=requests.index)
    return trace_summary(requests, stage_of, [w.name for w in windows], spans)
