"""The reference agent's shared state: config, slots, faults, cache, agent and metrics."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from qi_load.agent.agent import Agent, ToolCaller
from qi_load.agent.compute import ComputeThread
from qi_load.agent.config import TargetConfig
from qi_load.agent.faults import BoundedCache, FaultPlanner
from qi_load.agent.llm import SlotPool
from qi_load.agent.metrics import TargetMetrics
from qi_load.agent.tracing import AgentTracer

__all__ = ["Service"]


@dataclass
class Service:
    """Everything a request handler needs; one per running app."""

    config: TargetConfig
    tool_caller: ToolCaller
    metrics: TargetMetrics = field(default_factory=TargetMetrics)
    ready: bool = False

    def __post_init__(self) -> None:
        # One seeded generator for jitter and faults: a run is reproducible given the seed
        # and the order of arrivals.
        self.rng = random.Random(self.config.seed)
        self.pool = SlotPool(self.config.slots, self.config.queue_limit)
        self.faults = FaultPlanner(self.config, self.rng)
        self.cache = (
            BoundedCache(self.config.cache_mb, self.metrics.cached_bytes.set)
            if self.config.cache_mb > 0
            else None
        )
        self.compute = ComputeThread() if self.config.compute_thread else None
        self.agent = Agent(
            self.tool_caller,
            wrong_answers=self.config.wrong_answers,
            on_tool_call=self._count_tool_call,
            slow_tools={str(tool): ms for tool, ms in self.config.slow_tools.items()},
        )
        self.tracer = (
            AgentTracer(self.config.otlp_endpoint, self.config.model)
            if self.config.otlp_endpoint
            else None
        )
        self.metrics.slots_total.set(self.config.slots)

    def _count_tool_call(self, tool: str, ok: bool) -> None:
        self.metrics.tool_calls.labels(tool, "ok" if ok else "error").inc()

    def update_gauges(self) -> None:
        self.metrics.slots_busy.set(self.pool.busy)
        self.metrics.queue_depth.set(self.pool.waiting)
