"""Optimisation recommendations, each triggered by a measured miss and naming its evidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal, TypedDict

from qi_load.analyze.alert_replay import AlertFinding
from qi_load.analyze.degradation import Degradation, agent_sampled
from qi_load.analyze.leaks import LeakFit
from qi_load.analyze.stages import QueryStats, StageStats
from qi_load.analyze.targets import TargetResult
from qi_load.units import MB
from qi_load.vocabulary import TARGET_ROLES

__all__ = ["Category", "Recommendation", "recommend"]

Category = Literal["startup", "memory", "cpu", "io", "network", "algorithm"]

_NETWORK_ERROR_RATE: Final = 0.01
_DISK_BYTES_PER_S: Final = 10 * MB


class Recommendation(TypedDict):
    """What to try, why (``finding``), and how it ranks (impact over effort, 1-3 each)."""

    category: Category
    title: str
    actions: list[str]
    expected_improvement: str
    impact: int
    effort: int
    finding: str


def _rec(
    category: Category,
    title: str,
    actions: list[str],
    expected: str,
    impact: int,
    effort: int,
    finding: str,
) -> Recommendation:
    return Recommendation(
        category=category,
        title=title,
        actions=actions,
        expected_improvement=expected,
        impact=impact,
        effort=effort,
        finding=finding,
    )


def _missed(targets: Sequence[TargetResult], metric: str) -> TargetResult | None:
    for t in targets:
        if t["metric"] == metric and t["grade"] in ("minimum", "fail"):
            return t
    return None


def _target_miss(t: TargetResult) -> str:
    return (
        f"{t['metric']} {t['value']:.3g} {t['unit']} misses the target {t['target']:g} "
        f"{t['unit']} (grade {t['grade']}; {t['basis']})"
    )


def _dominant_phase(overall: QueryStats) -> tuple[str, float] | None:
    phases = overall["phases_ms"]
    if not phases:
        return None
    name = max(phases, key=lambda k: phases[k])
    total = sum(phases.values())
    return (name, phases[name] / total) if total > 0 else None


def _latency(t: TargetResult, stages: Sequence[StageStats]) -> list[Recommendation]:
    # Phases at the lowest load show where service time goes; under load the request phase
    # also holds the wait for a slot, which the saturation finding already covers.
    valid = sorted((s for s in stages if s["invalid"] is None and s["overall"]["n"]),
                   key=lambda s: s["users"])  # fmt: skip
    phase = _dominant_phase(valid[0]["overall"]) if valid else None
    if phase is None:
        return []
    name, share = phase
    finding = (
        f"{_target_miss(t)}; at the lowest load ({valid[0]['users']} users) the server's "
        f"{name} phase takes {share:.0%} of its time"
    )
    if name == "llm":
        return [_rec(
            "algorithm", "Shorten model time per request",
            ["stream answers and cap output tokens per query type",
             "cache answers to repeated prompts", "route simple queries to a smaller model"],
            "p95 falls roughly in proportion to the LLM share cut", 3, 2, finding,
        )]  # fmt: skip
    if name == "tool":
        return [_rec(
            "io", "Make tool calls cheaper",
            ["run independent tool calls in parallel", "pool MCP sessions instead of reconnecting",
             "cache tool results that do not change per request"],
            "p95 falls by most of the tool phase when calls overlap", 3, 2, finding,
        )]  # fmt: skip
    return [_rec(
        "cpu", f"Reduce {name} processing time",
        ["profile the request path (py-spy / cProfile) and remove the hottest work",
         "move serialisation off the event loop or precompute it"],
        f"p95 falls by up to the {name} phase", 2, 2, finding,
    )]  # fmt: skip


def _saturation(deg: Degradation, stages: Sequence[StageStats]) -> list[Recommendation]:
    sat = deg["first_saturated"]
    finding = (
        f"first saturated resource: {sat['resource']} at {sat['users']} users ({sat['evidence']})"
    )
    if sat["resource"] == "inference_queue":
        return [_rec(
            "algorithm", "Raise inference concurrency",
            ["add inference slots or enable continuous batching",
             "scale out replicas behind the agent", "cache repeated prompts to skip the model"],
            "capacity grows with slots until the CPU or GPU saturates", 3, 2, finding,
        )]  # fmt: skip
    if sat["resource"] == "target_cpu":
        return [_rec(
            "cpu", "Relieve the target's CPU",
            ["profile under load and optimise the hottest functions",
             "cache computed results", "run more worker processes (parallelism)",
             "move blocking work to async tasks"],
            "throughput rises until the next resource saturates", 3, 2, finding,
        )]  # fmt: skip
    if sat["resource"] == "host_cpu":
        saturated = next((s for s in stages if s["name"] == sat["stage"]), None)
        # Only where the finding's own evidence says the agent went unsampled.
        unsampled = (
            ["an agent on this host that was not sampled counts as another process: "
             "sample it with --monitor-pid PID or --monitor-name NAME"]
            if saturated is not None and not agent_sampled(saturated)
            else []
        )  # fmt: skip
        return [_rec(
            "cpu", "Run the test on a host of its own",
            [*unsampled,
             "stop or move the other CPU-heavy processes during the test",
             "pin the target and the load generator to cores nobody else uses (cpusets)",
             "run the Locust workers on another machine"],
            "the figures measure the target, not its neighbours", 3, 1, finding,
        )]  # fmt: skip
    if sat["resource"] == "memory":
        return [_rec(
            "memory", "Reduce memory per request",
            ["pool and reuse buffers", "limit and compress conversation history",
             "tune the garbage collector thresholds"],
            "more concurrent users before memory runs out", 2, 2, finding,
        )]  # fmt: skip
    return []


def _leaks(leaks: Sequence[LeakFit]) -> list[Recommendation]:
    out = []
    for fit in leaks:
        if fit["status"] == "leak" and fit["side"] == "qi-load":
            out.append(_rec(
                "memory", f"qi-load's own {fit['role']} {fit['host']}/{fit['pid']} grows",
                ["it is the load generator, not the agent: the agent's figures stand",
                 "run benchmarks/soak_self.py to see whether it persists, and report it"],
                f"a generator that stays up at {fit['slope_mb_per_min']:.2f} MB/min less", 1, 1,
                f"leak: {fit['detail']}",
            ))  # fmt: skip
        elif fit["status"] == "leak":
            out.append(_rec(
                "memory", f"Find the leak in {fit['role']} {fit['host']}/{fit['pid']}",
                ["compare tracemalloc snapshots taken minutes apart under load",
                 "bound caches and conversation histories", "close sessions and streams"],
                f"stops growth of {fit['slope_mb_per_min']:.2f} MB/min", 3, 2,
                f"leak: {fit['detail']}",
            ))  # fmt: skip
    return out


def _network(overall: QueryStats) -> list[Recommendation]:
    kinds = overall["errors_by_kind"]
    bad = kinds.get("connect", 0) + kinds.get("timeout", 0)
    if overall["n"] == 0 or bad / overall["n"] <= _NETWORK_ERROR_RATE:
        return []
    return [_rec(
        "network", "Fix connection failures and timeouts",
        ["reuse connections (keep-alive, pooling)", "raise the server's backlog and worker limits",
         "set client timeouts above the measured p99"],
        "removes the failed requests from the error rate", 3, 1,
        f"{bad} of {overall['n']} requests failed with connect/timeout errors",
    )]  # fmt: skip


def _disk(stages: Sequence[StageStats]) -> list[Recommendation]:
    for s in stages:
        for role in TARGET_ROLES:
            r = s["roles"].get(role)
            if r and r["read_bytes_per_s"] + r["write_bytes_per_s"] > _DISK_BYTES_PER_S:
                rate = (r["read_bytes_per_s"] + r["write_bytes_per_s"]) / MB
                return [_rec(
                    "io", "Cut disk traffic",
                    ["cache file reads in memory", "batch and buffer writes",
                     "move logs off the request path"],
                    "lower latency and CPU wait under load", 2, 1,
                    f"{role} disk I/O {rate:.1f} MB/s at {s['users']} users",
                )]  # fmt: skip
    return []


def recommend(
    *,
    targets: Sequence[TargetResult],
    degradation: Degradation,
    leaks: Sequence[LeakFit],
    alerts: Sequence[AlertFinding],
    stages: Sequence[StageStats],
    overall: QueryStats,
) -> list[Recommendation]:
    """Recommendations for the misses measured, highest impact per effort first."""
    recs: list[Recommendation] = []
    startup = _missed(targets, "startup")
    if startup:
        recs.append(_rec(
            "startup", "Start faster",
            ["lazy-load modules not needed to serve", "preload/compile what every request needs",
             "cache parsed configuration", "prune unused dependencies"],
            "startup closer to the 300 ms target", 2, 1, _target_miss(startup),
        ))  # fmt: skip
    memory = _missed(targets, "memory")
    if memory:
        recs.append(_rec(
            "memory", "Shrink the baseline footprint",
            ["import heavy libraries lazily", "pool objects instead of allocating per request",
             "limit caches and history sizes", "tune GC thresholds"],
            "baseline RSS toward the 75 MB target", 2, 2, _target_miss(memory),
        ))  # fmt: skip
    recs += _leaks(leaks)
    recs += _saturation(degradation, stages)
    p95 = _missed(targets, "p95")
    if p95:
        recs += _latency(p95, stages)
    cpu_alerts = [a for a in alerts if a["metric"] == "cpu_percent"]
    if cpu_alerts and not any(r["category"] == "cpu" for r in recs):
        recs.append(_rec(
            "cpu", "Investigate sustained CPU load",
            ["profile the process named in the alert", "spread work over more processes"],
            "headroom under sustained load", 2, 2, cpu_alerts[0]["message"],
        ))  # fmt: skip
    recs += _network(overall)
    recs += _disk(stages)
    return sorted(recs, key=lambda r: -r["impact"] / r["effort"])
