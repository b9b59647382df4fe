"""The per-stage table ``qi-load run`` prints at the end (plain csv, no pandas: it is instant)."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qi_load.record.rundir import REQUESTS_CSV

__all__ = ["StageRow", "format_table", "print_summary", "stage_rows"]


@dataclass(frozen=True)
class StageRow:
    stage: str
    users: int
    requests: int
    errors: int
    req_per_s: float
    ttft_p95_ms: float | None
    e2e_p50_ms: float | None
    e2e_p95_ms: float | None
    quality_checked: int = 0
    quality_passed: int = 0


def _nearest_rank(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def stage_rows(rows: Iterable[dict[str, str]], stages: Sequence[dict[str, Any]]) -> list[StageRow]:
    """One summary row per stage (in plan order) from ``requests.csv`` rows."""
    by_stage: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_stage.setdefault(row.get("stage", ""), []).append(row)
    result = []
    for stage in stages:
        name = str(stage["name"])
        members = by_stage.get(name, [])
        # Protocol successes, whatever their answer: quality is its own column.
        ok = [r for r in members if r.get("ok") == "true"]
        checked = [r["quality_ok"] for r in ok if r.get("quality_ok") in ("true", "false")]
        duration = max(1e-9, float(stage["end"]) - float(stage["start"]))
        ttft = [float(r["ttft_ms"]) for r in ok if r.get("ttft_ms")]
        e2e = [float(r["e2e_ms"]) for r in ok if r.get("e2e_ms")]
        result.append(
            StageRow(
                stage=name,
                users=int(stage.get("users", 0)),
                requests=len(members),
                errors=len(members) - len(ok),
                req_per_s=len(ok) / duration,
                ttft_p95_ms=_nearest_rank(ttft, 95),
                e2e_p50_ms=_nearest_rank(e2e, 50),
                e2e_p95_ms=_nearest_rank(e2e, 95),
                quality_checked=len(checked),
                quality_passed=checked.count("true"),
            )
        )
    return result


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _quality(row: StageRow) -> str:
    if not row.quality_checked:
        return "-"
    return f"{row.quality_passed / row.quality_checked:.0%}"


def format_table(rows: Sequence[StageRow]) -> str:
    header = (
        "stage", "users", "requests", "errors", "req/s", "TTFT p95", "E2E p50", "E2E p95",
        "quality",
    )  # fmt: skip
    lines = [header] + [
        (
            r.stage,
            str(r.users),
            str(r.requests),
            str(r.errors),
            f"{r.req_per_s:.2f}",
            _ms(r.ttft_p95_ms),
            _ms(r.e2e_p50_ms),
            _ms(r.e2e_p95_ms),
            _quality(r),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )


def print_summary(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Print the per-stage table (latencies in ms, whole stages, all query types)."""
    path = run_dir / REQUESTS_CSV
    stages = manifest.get("stages") or []
    if not path.exists() or not stages:
        return
    with path.open(newline="", encoding="utf-8") as handle:
        rows = stage_rows(csv.DictReader(handle), stages)
    print(format_table(rows))
