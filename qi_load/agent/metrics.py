"""Prometheus metrics of the reference agent: requests, latencies, in-flight, slots, queue."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "TargetMetrics"]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
# The methodology's buckets (100 ms ... 5 s) plus finer and longer ones around them.
_BUCKETS: Final = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class TargetMetrics:
    """One registry per app instance, so tests can build several apps in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "qi_target_requests",
            "Chat completion requests by query type and HTTP status.",
            ["query_type", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "qi_target_request_duration_seconds",
            "Server-side duration of chat completion requests.",
            ["query_type", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.ttft = Histogram(
            "qi_target_time_to_first_token_seconds",
            "Server-side time from request arrival to the first content token.",
            ["query_type"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.tool_calls = Counter(
            "qi_target_tool_calls",
            "MCP tool calls made by the agent, by tool and outcome.",
            ["tool", "outcome"],
            registry=self.registry,
        )
        self.faults = Counter(
            "qi_target_faults_injected",
            "Faults injected, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "qi_target_in_flight_requests",
            "Chat completion requests being served or waiting.",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "qi_target_queue_depth", "Requests waiting for a slot.", registry=self.registry
        )
        self.slots_busy = Gauge(
            "qi_target_slots_busy", "Inference slots in use.", registry=self.registry
        )
        self.slots_total = Gauge(
            "qi_target_slots", "Configured inference slots.", registry=self.registry
        )
        self.leaked_bytes = Gauge(
            "qi_target_leaked_bytes",
            "Memory retained on purpose by --leak-mb-per-min.",
            registry=self.registry,
        )
        self.connections_closed = Counter(
            "qi_target_connections_closed",
            "Connections the agent closed on a client: idle, header_timeout, body_timeout, "
            "over_limit.",
            ["reason"],
            registry=self.registry,
        )
        self.cached_bytes = Gauge(
            "qi_target_cached_bytes",
            "Memory held by the bounded cache of --cache-mb.",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
