"""qi-load's OpenTelemetry request metrics, read back through an in-memory reader."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from qi_load.generate.otel_metrics import OtelRequestMetrics
from qi_load.record.schema import RequestRecord


def _record(ok: bool, ttft_ms: float | None) -> RequestRecord:
    return RequestRecord(
        ts_sched=0.0, ts_start=0.0, worker="w", user_id=1, query_type="simple", name="x",
        ok=ok, error_kind="none" if ok else "timeout", ttft_ms=ttft_ms, e2e_ms=250.0,
        output_tokens=12 if ok else None,
    )  # fmt: skip


def test_requests_become_otel_metrics() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    try:
        OtelRequestMetrics(provider.get_meter("t")).observe(
            [_record(True, 40.0), _record(True, 60.0), _record(False, None)]
        )
        data = reader.get_metrics_data()
    finally:
        provider.shutdown()
    assert data is not None
    metrics = {
        metric.name: metric
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert set(metrics) == {
        "qi.request.duration",
        "qi.request.ttft",
        "qi.requests",
        "qi.output_tokens",
    }
    counts = {
        point.attributes["outcome"]: point.value
        for point in metrics["qi.requests"].data.data_points
    }
    assert counts == {"ok": 2, "timeout": 1}
    (ttft,) = metrics["qi.request.ttft"].data.data_points
    assert (ttft.count, round(ttft.sum, 3)) == (2, 0.1)
    (tokens,) = metrics["qi.output_tokens"].data.data_points
    assert tokens.value == 24
