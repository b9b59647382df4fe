"""Statistics, grades, the ``startup.json`` document and the terminal table of a startup run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qi_load.bench.grading import MEMORY, STARTUP, Target
from qi_load.bench.speedup import summarize
from qi_load.bench.startup import StartupRun
from qi_load.render.text_table import fmt, format_table
from qi_load.units import MB

__all__ = [
    "METRICS",
    "grade_startup",
    "metric_summaries",
    "phase_summaries",
    "startup_document",
    "startup_table",
]


METRICS: dict[str, str] = {
    "spawn_ms": "spawn (ms)",
    "first_output_ms": "first output (ms)",
    "port_open_ms": "port open (ms)",
    "ready_ms": "ready (ms)",
    "cpu_ms": "CPU to ready (ms)",
    "rss_mb": "RSS at ready (MB)",
}
"""Metric key in ``startup.json`` -> label; absent metrics (no output, no port) are skipped."""


def _values(runs: Sequence[StartupRun], metric: str) -> list[float]:
    if metric == "rss_mb":
        return [run.rss_bytes / MB for run in runs]
    values = (getattr(run, metric) for run in runs)
    return [float(v) for v in values if v is not None]


def metric_summaries(runs: Sequence[StartupRun]) -> dict[str, dict[str, float | int]]:
    """Per metric, statistics over the runs where it was observed."""
    out: dict[str, dict[str, float | int]] = {}
    for metric in METRICS:
        values = _values(runs, metric)
        if values:
            out[metric] = summarize(values).as_dict()
    return out


def phase_summaries(runs: Sequence[StartupRun]) -> dict[str, dict[str, float | int]]:
    """Per self-reported phase, in the order the program first reported them."""
    names: list[str] = []
    for run in runs:
        names.extend(name for name in run.phases if name not in names)
    return {
        name: summarize([run.phases[name] for run in runs if name in run.phases]).as_dict()
        for name in names
    }


def _graded(value: float, target: Target, metric: str) -> dict[str, Any]:
    return {
        "metric": metric,
        "statistic": "mean",
        "value": value,
        "grade": target.levels.grade(value),
        "target": target.as_dict(),
    }


def grade_startup(summaries: dict[str, dict[str, float | int]]) -> dict[str, dict[str, Any]]:
    """The mean time to ready and mean RSS at ready against the methodology's targets."""
    grades: dict[str, dict[str, Any]] = {}
    if "ready_ms" in summaries:
        grades["startup"] = _graded(float(summaries["ready_ms"]["mean"]), STARTUP, "ready_ms")
    if "rss_mb" in summaries:
        grades["memory"] = _graded(float(summaries["rss_mb"]["mean"]), MEMORY, "rss_mb")
    return grades


def startup_document(
    *,
    command: Sequence[str],
    ready: dict[str, Any],
    runs: Sequence[StartupRun],
    settings: dict[str, Any],
    environment: dict[str, Any],
) -> dict[str, Any]:
    """Everything ``startup.json`` holds: inputs, conditions, every run, statistics, grades."""
    summaries = metric_summaries(runs)
    return {
        "kind": "startup",
        "command": list(command),
        "ready": ready,
        "rss_basis": "peak" if ready["kind"] == "exit" else "at_ready",
        "settings": settings,
        "environment": environment,
        "runs": [run.as_dict() for run in runs],
        "summary": summaries,
        "phases": phase_summaries(runs),
        "grades": grade_startup(summaries),
    }


_STATS = ("n", "mean", "median", "p95", "stddev", "min", "max")


def _rows(summaries: dict[str, dict[str, float | int]], labels: dict[str, str]) -> list[list[str]]:
    return [
        [labels.get(key, key), *(fmt(stats[s]) for s in _STATS)] for key, stats in summaries.items()
    ]


def startup_table(document: dict[str, Any]) -> str:
    """The terminal report: metric statistics, phase statistics and the grades."""
    labels = dict(METRICS)
    if document["rss_basis"] == "peak":
        labels["ready_ms"] = "exit (ms)"
        labels["cpu_ms"] = "CPU to exit (ms)"
        labels["rss_mb"] = "peak RSS (MB)"
    headers = ["metric", *_STATS]
    parts = [format_table(headers, _rows(document["summary"], labels))]
    if document["phases"]:
        phase_labels = {name: f"{name} (ms)" for name in document["phases"]}
        parts.append(format_table(["phase", *_STATS], _rows(document["phases"], phase_labels)))
    grades = [
        f"{name}: mean {graded['value']:.1f} {graded['target']['unit']} -> {graded['grade']} "
        f"(stretch {graded['target']['stretch']:g} / target {graded['target']['target']:g} / "
        f"minimum {graded['target']['minimum']:g} {graded['target']['unit']})"
        for name, graded in document["grades"].items()
    ]
    if grades:
        parts.append("\n".join(grades))
    return "\n\n".join(parts)
