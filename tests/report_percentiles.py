"""The report's own numbers for one run's requests.csv, in the live view's shape, to compare."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from qi_load.analyze.load import load_run
from qi_load.analyze.stages import query_stats
from qi_load.generate.live_stats import ALL_TYPES

__all__ = ["live_view", "report_view"]


def report_view(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Per query type (and ``all``): requests, ok, errors by kind, retries, answers checked
    and passed, and each metric's n, p50, p95, p99, computed by the report's code
    (``load_run`` and ``query_stats``) from the CSV."""
    frame = load_run(run_dir).requests
    types = [str(t) for t in frame["query_type"].astype(str).unique()]
    out: dict[str, dict[str, Any]] = {}
    for name in [*types, ALL_TYPES]:
        rows = frame if name == ALL_TYPES else frame[frame["query_type"].astype(str) == name]
        stats = query_stats(rows, 1.0, {}, open_loop=False)
        metrics = {
            "ttft_ms": stats["ttft_ms"],
            "ttfc_ms": stats["ttfc_ms"],
            "itl_ms": stats["itl_ms"],
            "tpot_ms": stats["tpot_ms"],
            "e2e_ms": stats["e2e_ms"],
        }
        out[name] = {
            "requests": stats["n"],
            "ok": stats["n_ok"],
            "errors": stats["errors_by_kind"],
            "retries": stats["retries"],
            "quality_checked": stats["quality_checked"],
            "quality_passed": stats["quality_passed"],
            "metrics": {
                m: {"n": p["n"], "p50": p["p50"], "p95": p["p95"], "p99": p["p99"]}
                for m, p in metrics.items()
            },
        }
    return out


def live_view(types: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The live summaries (``TypeSummary`` or their JSON) in ``report_view``'s shape."""
    return {
        t["query_type"]: {
            **{k: v for k, v in t.items() if k not in ("query_type", "metrics")},
            "metrics": {
                m: {k: v for k, v in p.items() if k != "p99_flagged"}
                for m, p in t["metrics"].items()
            },
        }
        for t in types
    }
