"""Statistics, speedups, the ``toolchain.json`` document and the terminal table of a toolchain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qi_load.bench.grading import TOOLCHAIN
from qi_load.bench.speedup import speedup, summarize
from qi_load.bench.toolchain import ComparisonResult, Measurement, Side
from qi_load.render.text_table import fmt, format_table
from qi_load.units import MB

__all__ = ["comparison_document", "toolchain_document", "toolchain_table"]

_SIDES: tuple[Side, Side] = ("baseline", "candidate")


def _side(result: ComparisonResult, side: Side, grade_key: str | None) -> dict[str, Any]:
    measured: Sequence[Measurement] = result.iterations[side]
    walls = [m.wall_s for m in measured]
    cpus = [m.cpu_s for m in measured if m.cpu_s is not None]
    wall = summarize(walls)
    graded = None
    if grade_key is not None:
        target = TOOLCHAIN[grade_key]
        graded = {
            "statistic": "mean",
            "value": wall.mean,
            "grade": target.levels.grade(wall.mean),
            "target": target.as_dict(),
        }
    return {
        "label": side,
        "command": result.commands[side],
        "iterations": [m.as_dict() for m in measured],
        "warmup": [m.as_dict() for m in result.warmup[side]],
        "wall_s": wall.as_dict(),
        "cpu_s": summarize(cpus).as_dict() if cpus else None,
        "peak_rss_mb": summarize([m.peak_rss_bytes / MB for m in measured]).as_dict(),
        "grade": graded,
    }


def comparison_document(result: ComparisonResult, *, confidence: float) -> dict[str, Any]:
    """One comparison: both sides' statistics and the wall-time speedup with its interval."""
    comparison = result.comparison
    ratio = speedup(
        [m.wall_s for m in result.iterations["baseline"]],
        [m.wall_s for m in result.iterations["candidate"]],
        confidence=confidence,
    )
    return {
        "name": comparison.name,
        "description": comparison.description,
        "baseline": _side(result, "baseline", comparison.grade),
        "candidate": _side(result, "candidate", comparison.grade),
        "speedup": ratio.as_dict(),
    }


def toolchain_document(
    *,
    config_path: str,
    results: Sequence[ComparisonResult],
    settings: dict[str, Any],
    environment: dict[str, Any],
) -> dict[str, Any]:
    """Everything ``toolchain.json`` holds."""
    return {
        "kind": "toolchain",
        "config": config_path,
        "settings": settings,
        "environment": environment,
        "comparisons": [
            comparison_document(result, confidence=settings["confidence"]) for result in results
        ],
    }


def toolchain_table(document: dict[str, Any]) -> str:
    """Per comparison and side: wall time statistics, CPU and peak RSS; then the speedups."""
    headers = ["comparison", "side", "n", "mean s", "p95 s", "stddev s", "CPU s", "peak MB"]
    rows: list[list[str]] = []
    notes: list[str] = []
    for comparison in document["comparisons"]:
        for side in _SIDES:
            stats = comparison[side]
            cpu = stats["cpu_s"]["mean"] if stats["cpu_s"] else None
            rows.append(
                [
                    comparison["name"],
                    side,
                    fmt(stats["wall_s"]["n"]),
                    fmt(stats["wall_s"]["mean"], 3),
                    fmt(stats["wall_s"]["p95"], 3),
                    fmt(stats["wall_s"]["stddev"], 3),
                    fmt(cpu, 3),
                    fmt(stats["peak_rss_mb"]["max"]),
                ]
            )
            if stats["grade"] is not None:
                target = stats["grade"]["target"]
                notes.append(
                    f"{comparison['name']}/{side}: {target['name']} {stats['grade']['grade']} "
                    f"(stretch {target['stretch']:g} / target {target['target']:g} / minimum "
                    f"{target['minimum']:g} {target['unit']})"
                )
        ratio = comparison["speedup"]
        notes.append(
            f"{comparison['name']}: candidate is {ratio['factor']:.2f}x as fast as baseline, "
            f"{ratio['confidence']:.0%} interval [{ratio['low']:.2f}, {ratio['high']:.2f}]",
        )
    return format_table(headers, rows) + "\n\n" + "\n".join(notes)
