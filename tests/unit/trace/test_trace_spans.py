"""OTLP trace requests decoded to span rows, phases by the GenAI conventions."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from qi_load.trace.spans import (
    OtlpDecodeError,
    decode_json,
    decode_protobuf,
    span_phase,
    span_rows,
)

TRACE = "0af7651916cd43dd8448eb211c80319c"
ROOT = "b7ad6b7169203331"
CHILD = "00f067aa0ba902b7"


def _kv(key: str, value: str | int) -> KeyValue:
    any_value = (
        AnyValue(string_value=value) if isinstance(value, str) else AnyValue(int_value=value)
    )
    return KeyValue(key=key, value=any_value)


def _request() -> ExportTraceServiceRequest:
    root = Span(
        trace_id=bytes.fromhex(TRACE),
        span_id=bytes.fromhex(ROOT),
        name="invoke_agent helper",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=1_000_000_000,
        end_time_unix_nano=1_250_000_000,
        attributes=[_kv("gen_ai.operation.name", "invoke_agent")],
    )
    tool = Span(
        trace_id=bytes.fromhex(TRACE),
        span_id=bytes.fromhex(CHILD),
        parent_span_id=bytes.fromhex(ROOT),
        name="execute_tool search",
        start_time_unix_nano=1_010_000_000,
        end_time_unix_nano=1_090_000_000,
        attributes=[_kv("gen_ai.tool.name", "search")],
    )
    llm = Span(
        trace_id=bytes.fromhex(TRACE),
        span_id=bytes.fromhex("1111111111111111"),
        parent_span_id=bytes.fromhex(ROOT),
        name="generate",
        start_time_unix_nano=1_100_000_000,
        end_time_unix_nano=1_200_000_000,
        attributes=[
            _kv("gen_ai.operation.name", "chat"),
            _kv("gen_ai.request.model", "m1"),
            _kv("gen_ai.usage.input_tokens", 12),
            _kv("gen_ai.usage.output_tokens", 40),
        ],
    )
    bad_ids = Span(trace_id=b"short", span_id=b"x", name="broken")
    resource = ResourceSpans(scope_spans=[ScopeSpans(spans=[root, tool, llm, bad_ids])])
    resource.resource.attributes.append(_kv("service.name", "agent"))
    return ExportTraceServiceRequest(resource_spans=[resource])


def test_protobuf_spans_become_rows_with_phases() -> None:
    rows = list(span_rows(decode_protobuf(_request().SerializeToString())))
    assert [r.phase for r in rows] == ["agent", "tool", "llm"]
    root, tool, llm = rows
    assert (root.trace_id, root.span_id, root.parent_span_id) == (TRACE, ROOT, "")
    assert (tool.parent_span_id, tool.tool_name, tool.duration_ms) == (ROOT, "search", 80.0)
    assert (llm.model, llm.input_tokens, llm.output_tokens) == ("m1", 12, 40)
    assert root.kind == "server" and root.service == "agent"


def test_json_ids_are_hex_as_the_otlp_spec_says() -> None:
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "a"}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": TRACE,
                                "spanId": CHILD,
                                "parentSpanId": ROOT,
                                "name": "chat gpt",
                                "kind": 3,
                                "startTimeUnixNano": "1000",
                                "endTimeUnixNano": "2000",
                            }
                        ]
                    }
                ],
            }
        ]
    }
    (row,) = span_rows(decode_json(json.dumps(body).encode()))
    assert (row.trace_id, row.span_id, row.parent_span_id) == (TRACE, CHILD, ROOT)
    assert (row.phase, row.kind, row.start_ns, row.end_ns) == ("llm", "client", 1000, 2000)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"resourceSpans": 5}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_malformed_json_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(OtlpDecodeError):
        decode_json(body)


def test_malformed_protobuf_is_a_decode_error() -> None:
    with pytest.raises(OtlpDecodeError):
        decode_protobuf(b"\xff\xff\xff\xff\x0f")


@pytest.mark.parametrize(
    ("operation", "name", "phase"),
    [
        ("chat", "x", "llm"),
        ("", "chat gpt-4o", "llm"),
        ("embeddings", "", "llm"),
        ("execute_tool", "", "tool"),
        ("", "execute_tool search", "tool"),
        ("invoke_agent", "", "agent"),
        ("", "GET /health", "other"),
    ],
)
def test_phase_by_operation_then_name(operation: str, name: str, phase: str) -> None:
    assert span_phase(operation, name) == phase
