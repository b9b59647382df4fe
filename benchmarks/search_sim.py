"""The capacity search's own statistical error: the real search driver against a simulated queue.

``capacity_search.py`` measures the search end to end against the reference agent, where the
host's noise adds to the search's. This script isolates the search: the same
``SearchDriver`` (judging, settling, cutting, repeating, bisecting) is fed, tick by tick, the
records of an exactly simulated FIFO queue with ``slots`` servers and a fixed service time —
the reference agent's model, with no host noise. So a thousand searches take seconds, and a
search setting (``min_samples``, ``step_max_s``, confidence) can be judged on how often it
lands within ±10 % of the true capacity and how often its interval covers it.

    python benchmarks/search_sim.py [--runs 200] [--loop open|closed] [--seed 1]
        [--min-samples N] [--step-max-s S] [--settle-s S] [--max-repeats N] [--scale K]

``--scale K`` multiplies every duration of the benchmark's setup (service, think time, SLOs):
the same utilisations with K times less information per second.
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from capacity_search import TOLERANCE, Setup, scenario_yaml, true_closed_users, true_open_rate

from qi_load.generate.plan import stage_plan
from qi_load.generate.search_shape import SearchDriver
from qi_load.scenario import Scenario

T0 = 1_000_000.0
"""The plan's wall-clock origin (any value: records carry absolute times)."""


@dataclass(frozen=True)
class SimRecord:
    """The fields of a ``RequestRecord`` the search reads."""

    ts_sched: float
    ts_start: float
    ttft_ms: float
    e2e_ms: float
    query_type: str = "simple"
    error_kind: str = "none"
    ok: bool = True
    quality_ok: bool | None = None


class Queue:
    """FIFO queue, ``slots`` servers, fixed service time; arrivals from the load in force."""

    def __init__(self, setup: Setup, rng: random.Random, open_loop: bool) -> None:
        self.setup, self.rng, self.open_loop = setup, rng, open_loop
        self.free = [0.0] * setup.slots
        self.load = 0.0
        self.next_arrival = float("inf")
        self.users: dict[int, float] = {}  # closed loop: user -> next request time
        self.user_ids = 0
        self.served = 0
        self.done: list[tuple[float, int, SimRecord]] = []  # (finish, arrival no., record)

    def set_load(self, now: float, load: float) -> None:
        if self.open_loop:
            self.load = load
            self.next_arrival = now + self.rng.expovariate(load) if load > 0 else float("inf")
            return
        wanted = int(load)
        while len(self.users) < wanted:
            self.user_ids += 1
            self.users[self.user_ids] = now + self.rng.expovariate(1 / self.setup.think_mean_s)
        for user in sorted(self.users)[wanted:]:
            del self.users[user]  # stops before its next request
        self.load = load

    def _serve(self, at: float) -> float:
        """The request arriving ``at``: its finish time (and the record)."""
        s = self.setup
        start = max(at, heapq.heappop(self.free))
        finish = start + s.service_s
        heapq.heappush(self.free, finish)
        wait_ms = (start - at) * 1000.0
        record = SimRecord(
            ts_sched=at,
            ts_start=at,
            ttft_ms=wait_ms + s.ttft_ms,
            e2e_ms=wait_ms + s.service_s * 1000,
        )
        # The arrival number breaks a tie of finishes: records themselves do not compare.
        heapq.heappush(self.done, (finish, self.served, record))
        self.served += 1
        return finish

    def run_until(self, until: float) -> list[SimRecord]:
        """Advance to ``until``; the records that finished by then."""
        if self.open_loop:
            while self.next_arrival <= until:
                self._serve(self.next_arrival)
                self.next_arrival += self.rng.expovariate(self.load)
        else:
            while self.users:
                user, at = min(self.users.items(), key=lambda item: item[1])
                if at > until:
                    break
                finish = self._serve(at)
                self.users[user] = finish + self.rng.expovariate(1 / self.setup.think_mean_s)
        out = []
        while self.done and self.done[0][0] <= until:
            out.append(heapq.heappop(self.done)[2])
        return out


class _Shape:
    def replan(self, plan: Any) -> None:
        pass


def simulate(scenario: Scenario, setup: Setup, seed: int) -> dict[str, Any]:
    """One search against the simulated queue; its result (``search.json``'s content)."""
    open_loop = scenario.arrival.mode == "open"
    qi = SimpleNamespace(
        plan=stage_plan(scenario),
        t0=T0,
        scenario=scenario,
        environment=SimpleNamespace(runner=None),
        active=False,
        run_dir=None,
    )
    driver = SearchDriver(qi, _Shape(), scenario)  # type: ignore[arg-type]
    queue = Queue(setup, random.Random(seed), open_loop)
    load: float | None = None
    end = driver.steps.budget.end_s
    t = 0.0
    while not driver.done and t <= end:
        driver.observe(queue.run_until(T0 + t))  # type: ignore[arg-type]
        driver.advance(t)
        step = driver.steps.step
        step_load = None if step is None else (step.rate if open_loop else float(step.users))
        if step_load is not None and step_load != load:
            load = step_load
            queue.set_load(T0 + t, load)
        t += 1.0
    result: dict[str, Any] = dict(driver.search.result())
    result["wall_s"] = t
    return result


def scaled_setup(k: float) -> Setup:
    """The reference setup with every duration multiplied by ``k`` (same utilisations)."""
    base = Setup()
    return dataclasses.replace(
        base,
        ttft_ms=base.ttft_ms * k,
        itl_ms=base.itl_ms * k,
        think_mean_s=base.think_mean_s * k,
        closed_slo_ms=base.closed_slo_ms * k,
        open_slo_ms=base.open_slo_ms * k,
    )


def evaluate(
    runs: int,
    loop: str,
    seed: int,
    tweak: Callable[[dict[str, Any]], None] | None = None,
    setup: Setup | None = None,
) -> dict[str, Any]:
    setup = setup or Setup()
    true = true_closed_users(setup) if loop == "closed" else true_open_rate(setup)
    raw = yaml.safe_load(scenario_yaml(setup, loop))
    if tweak is not None:
        tweak(raw["stages"][-1]["search"])
    scenario = Scenario.model_validate(raw)
    within = covers = 0
    found: list[float] = []
    walls: list[float] = []
    for i in range(runs):
        result = simulate(scenario, setup, seed + i)
        capacity, low, high = result["capacity"], result["interval_low"], result["interval_high"]
        found.append(capacity if capacity is not None else float("nan"))
        walls.append(result["wall_s"])
        within += capacity is not None and abs(capacity - true) <= TOLERANCE * true
        integer = loop == "closed"
        covers += (low is None or low <= true) and (
            high is None or (true < high if integer else true <= high)
        )
    found.sort()
    return {
        "true": true,
        "runs": runs,
        "within": within,
        "covers": covers,
        "found_p5_p50_p95": [found[int(q * (runs - 1))] for q in (0.05, 0.5, 0.95)],
        "wall_s_median": sorted(walls)[runs // 2],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--loop", choices=("closed", "open"), default="open")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--min-samples", type=int)
    parser.add_argument("--step-max-s", type=float)
    parser.add_argument("--settle-s", type=float)
    parser.add_argument("--max-repeats", type=int)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()

    def tweak(search: dict[str, Any]) -> None:
        for key in ("min_samples", "step_max_s", "settle_s", "max_repeats"):
            value = getattr(args, key)
            if value is not None:
                search[key] = value

    print(evaluate(args.runs, args.loop, args.seed, tweak, scaled_setup(args.scale)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
