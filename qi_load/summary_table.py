"""The per-stage table ``qi-load run`` prints at the end (plain csv, no pandas: it is instant)."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qi_load.analyze.window import MIN_WINDOW_REQUESTS, window_start
from qi_load.record.rundir import REQUESTS_CSV
from qi_load.scenario import WARMUP_STAGE

__all__ = ["StageRow", "format_table", "print_summary", "stage_rows", "window_warnings"]

CANCELLED = "cancelled"
"""The ``error_kind`` of a request in flight when its user was stopped."""


@dataclass(frozen=True)
class StageRow:
    stage: str
    users: int
    started: int
    """Requests that started in the stage, cancelled ones included."""
    cancelled: int
    errors: int
    """Finished requests that failed (cancelled ones are not errors)."""
    req_per_s: float
    ttft_p95_ms: float | None
    e2e_p50_ms: float | None
    e2e_p95_ms: float | None
    in_window: int
    """Finished requests that ended inside the stage's steady-state window."""
    quality_checked: int = 0
    quality_passed: int = 0


def _nearest_rank(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _end(row: dict[str, str]) -> float:
    return float(row["ts_start"]) + float(row.get("e2e_ms") or 0.0) / 1000.0


def stage_rows(
    rows: Iterable[dict[str, str]], stages: Sequence[dict[str, Any]], settle_s: float = 0.0
) -> list[StageRow]:
    """One summary row per stage (in plan order) from ``requests.csv`` rows."""
    by_stage: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_stage.setdefault(row.get("stage", ""), []).append(row)
    result = []
    for stage in stages:
        name = str(stage["name"])
        members = by_stage.get(name, [])
        finished = [r for r in members if r.get("error_kind") != CANCELLED]
        # Protocol successes, whatever their answer: quality is its own column.
        ok = [r for r in finished if r.get("ok") == "true"]
        checked = [r["quality_ok"] for r in ok if r.get("quality_ok") in ("true", "false")]
        start, end = float(stage["start"]), float(stage["end"])
        t0 = window_start(float(stage.get("ramp_end", start)), end, settle_s)
        ttft = [float(r["ttft_ms"]) for r in ok if r.get("ttft_ms")]
        e2e = [float(r["e2e_ms"]) for r in ok if r.get("e2e_ms")]
        result.append(
            StageRow(
                stage=name,
                users=int(stage.get("users", 0)),
                started=len(members),
                cancelled=len(members) - len(finished),
                errors=len(finished) - len(ok),
                req_per_s=len(ok) / max(1e-9, end - start),
                ttft_p95_ms=_nearest_rank(ttft, 95),
                e2e_p50_ms=_nearest_rank(e2e, 50),
                e2e_p95_ms=_nearest_rank(e2e, 95),
                in_window=sum(1 for r in finished if "ts_start" in r and t0 <= _end(r) < end),
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
        "stage", "users", "started", "cancelled", "errors", "req/s", "TTFT p95", "E2E p50",
        "E2E p95", "quality",
    )  # fmt: skip
    lines = [header] + [
        (
            r.stage,
            str(r.users),
            str(r.started),
            str(r.cancelled),
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


def window_warnings(rows: Sequence[StageRow]) -> list[str]:
    """A line for each stage whose steady-state window holds too few finished requests."""
    return [
        f"stage {r.stage}: only {r.in_window} requests ended in its steady-state window "
        f"(fewer than {MIN_WINDOW_REQUESTS}): its figures are unreliable"
        for r in rows
        if r.in_window < MIN_WINDOW_REQUESTS and r.stage != WARMUP_STAGE
    ]


def print_summary(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Print the per-stage table (latencies in ms, whole stages, all query types)."""
    path = run_dir / REQUESTS_CSV
    stages = manifest.get("stages") or []
    if not path.exists() or not stages:
        return
    scenario = manifest.get("scenario")
    settle = scenario.get("settle_s") if isinstance(scenario, dict) else None
    settle_s = float(settle) if isinstance(settle, int | float) else 0.0
    with path.open(newline="", encoding="utf-8") as handle:
        rows = stage_rows(csv.DictReader(handle), stages, settle_s)
    print(format_table(rows))
    for line in window_warnings(rows):
        print(f"warning: {line}")
