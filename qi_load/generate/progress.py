"""The progress line a Locust master or local runner prints every ``--qi-progress`` seconds."""

from __future__ import annotations

from typing import Final

import gevent

from qi_load.generate.live_stats import stage_info
from qi_load.generate.plan import plan_end_s
from qi_load.generate.recent import RecentRequests
from qi_load.generate.run_state import QiState
from qi_load.metrics.percentile import percentile
from qi_load.metrics.rates import per_second
from qi_load.record.wall_clock import wall_now

__all__ = ["MIN_WINDOW_S", "progress_line", "progress_loop"]

MIN_WINDOW_S: Final = 5.0
"""Shortest window of requests a line summarizes (a shorter interval still looks back 5 s)."""


def progress_line(qi: QiState, recent: RecentRequests, window: float, now: float) -> str:
    """One line: stage and time left, users, req/s, E2E p95, errors and quality of the
    requests that finished in the last ``window`` seconds (``recent``)."""
    served = recent.served()
    e2e = recent.e2e_ms()
    errors = len(recent) - served
    checked = recent.quality()
    _, users = qi.stage_now(now)
    runner = qi.environment.runner
    active = runner.user_count if runner is not None else 0
    if qi.t0 is not None and qi.plan:
        elapsed = now - qi.t0
        planned = qi.scenario_plan()
        info = stage_info(qi.plan, planned, elapsed)
        if info is None:
            label = f"{'plan over':<20}"
        elif info["index"] == 0:
            label = f"{'warm-up':<20}"
        else:
            label = f"stage {info['index']}/{info['of']} {info['name']:<10}"
        # Once over, the plan as it ran: a search can end before its time budget.
        total = plan_end_s(planned if info is not None else qi.plan)
        where = f"{label} {elapsed:5.0f}s/{total:.0f}s ({max(0.0, total - elapsed):.0f}s left)"
    else:
        where = "no scenario"
    p95 = f"{percentile(e2e, 95):7.0f} ms" if e2e.size else "      - ms"
    quality = f"{float(checked.mean()):4.0%}" if checked.size else "   -"
    return (
        f"[qi-load] {where} users {active:>3}/{users:<3} "
        f"req/s {per_second(served, window):6.2f} p95 {p95} errors {errors} "
        f"quality {quality}"
    )


def progress_loop(qi: QiState, interval: float) -> None:
    """Print a line every ``interval`` seconds (the master's stdout, which `qi-load run` echoes)."""
    window = max(interval, MIN_WINDOW_S)
    while True:
        gevent.sleep(interval)
        now = wall_now()
        recent = qi.recent if qi.recent is not None else RecentRequests()
        recent.keep_since(now - window)
        print(progress_line(qi, recent, window, now), flush=True)
