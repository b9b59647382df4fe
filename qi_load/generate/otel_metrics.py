"""qi-load's live request metrics over OpenTelemetry, beside Locust's own ``--otel`` metrics.

Locust's ``--otel`` sets up the global meter provider and exports ``locust.client.duration``
(end to end, per request name). qi-load adds what Locust cannot see — time to first token,
output tokens, failures by error kind, per query type — on that same provider, so one OTLP
pipeline carries both. Nothing is created unless ``--otel`` is on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from qi_load.record.schema import RequestRecord

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

__all__ = ["OtelRequestMetrics"]


class OtelRequestMetrics:
    """Records each finished request on OpenTelemetry instruments (seconds, tokens, counts)."""

    def __init__(self, meter: Meter) -> None:
        self._duration = meter.create_histogram(
            "qi.request.duration", unit="s", description="End-to-end request latency"
        )
        self._ttft = meter.create_histogram(
            "qi.request.ttft", unit="s", description="Time to first token"
        )
        self._requests = meter.create_counter(
            "qi.requests", unit="{request}", description="Finished requests by outcome"
        )
        self._tokens = meter.create_counter(
            "qi.output_tokens", unit="{token}", description="Output tokens received"
        )

    @classmethod
    def from_global_provider(cls) -> OtelRequestMetrics | None:
        """On the provider Locust's ``--otel`` set up; None without OpenTelemetry installed
        (Locust has said so already)."""
        try:
            from opentelemetry import metrics
        except ImportError:
            return None
        return cls(metrics.get_meter("qi_load"))

    def observe(self, records: Iterable[RequestRecord]) -> None:
        for record in records:
            outcome = "ok" if record.ok else record.error_kind
            attributes = {"query_type": record.query_type, "outcome": outcome}
            self._requests.add(1, attributes)
            if record.e2e_ms is not None:
                self._duration.record(record.e2e_ms / 1000.0, attributes)
            if record.ttft_ms is not None:
                self._ttft.record(record.ttft_ms / 1000.0, attributes)
            if record.output_tokens:
                self._tokens.add(record.output_tokens, {"query_type": record.query_type})
