"""The reference agent's own spans, exported over OTLP as an instrumented agent's would be.

Spans follow the OpenTelemetry GenAI conventions: an ``invoke_agent`` server span per request
(the child of the caller's ``traceparent``), an ``execute_tool`` span per tool call and a
``chat`` span for generation. They are written when the request ends, from the same clock that
fills ``Server-Timing``, so the two breakdowns describe one measurement. The OpenTelemetry SDK
is an optional dependency (the ``otel`` extra), imported only when an endpoint is given.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final

from qi_load.errors import QiLoadError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["SERVICE_NAME", "AgentTracer", "RequestSpans", "unix_ns_of"]

SERVICE_NAME: Final = "qi-load-reference-agent"
_NS_PER_MS: Final = 1_000_000


class RequestSpans:
    """One request's timeline in Unix nanoseconds, as the agent's clock measured it."""

    def __init__(
        self,
        *,
        traceparent: str | None,
        query_type: str,
        model: str,
        end_ns: int,
        phases_ms: Mapping[str, float],
        tool_calls: Sequence[tuple[str, float]],
        input_tokens: int,
        output_tokens: int,
        ok: bool,
    ) -> None:
        self.traceparent = traceparent
        self.query_type = query_type
        self.model = model
        self.end_ns = end_ns
        self.phases_ms = phases_ms
        self.tool_calls = tool_calls
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.ok = ok


class AgentTracer:
    """Exports each finished request's spans to an OTLP/HTTP endpoint in the background."""

    def __init__(self, endpoint: str, model: str) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            raise QiLoadError(
                f"--otlp-endpoint needs the OpenTelemetry SDK ({exc.name} is missing): "
                "pip install 'qi-load[otel]'"
            ) from None
        self._provider: TracerProvider = TracerProvider(
            resource=Resource.create({"service.name": SERVICE_NAME, "gen_ai.agent.name": model})
        )
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=5)
        self._provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        self._tracer = self._provider.get_tracer("qi_load.agent")

    def record(self, request: RequestSpans) -> None:
        """Write the request's spans: agent, tool calls, then generation, laid end to end."""
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        phases = request.phases_ms
        total_ms = sum(phases.values())
        start_ns = request.end_ns - int(total_ms * _NS_PER_MS)
        carrier = {"traceparent": request.traceparent} if request.traceparent else {}
        parent = TraceContextTextMapPropagator().extract(carrier)
        root = self._tracer.start_span(
            f"invoke_agent {request.model}",
            context=parent,
            kind=SpanKind.SERVER,
            start_time=start_ns,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": request.model,
                "qi.query_type": request.query_type,
            },
        )
        inside = trace.set_span_in_context(root)
        at = start_ns + int(phases.get("request", 0.0) * _NS_PER_MS)
        for name, ms in request.tool_calls:
            span = self._tracer.start_span(
                f"execute_tool {name}",
                context=inside,
                kind=SpanKind.INTERNAL,
                start_time=at,
                attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name},
            )
            at += int(ms * _NS_PER_MS)
            span.end(end_time=at)
        llm = self._tracer.start_span(
            f"chat {request.model}",
            context=inside,
            kind=SpanKind.CLIENT,
            start_time=at,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": request.model,
                "gen_ai.usage.input_tokens": request.input_tokens,
                "gen_ai.usage.output_tokens": request.output_tokens,
            },
        )
        llm.end(end_time=at + int(phases.get("llm", 0.0) * _NS_PER_MS))
        if not request.ok:
            root.set_status(Status(StatusCode.ERROR))
        root.end(end_time=request.end_ns)

    def close(self) -> None:
        """Flush what is queued (bounded by the exporter's timeout) and stop the exporter."""
        self._provider.shutdown()


def unix_ns_of(loop_time: float, loop_now: float) -> int:
    """The Unix time in ns of an event-loop timestamp, taken against the clocks' current pair."""
    return time.time_ns() - int((loop_now - loop_time) * 1e9)
