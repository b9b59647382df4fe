"""The agent's spans as flat rows: OTLP trace requests decoded, each span given a phase.

Phases follow the OpenTelemetry GenAI semantic conventions: ``gen_ai.operation.name`` says
whether a span is an LLM call (``chat``, ``text_completion``, ``generate_content``,
``embeddings``), a tool execution (``execute_tool``, with ``gen_ai.tool.name``) or an agent
invocation (``invoke_agent``, ``create_agent``); anything else is ``other``. Frameworks that set
no attribute still name spans ``"{operation} {target}"``, so the name's first word is the
fallback.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from dataclasses import astuple, dataclass, fields
from typing import Any, Final, Literal, get_args

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

__all__ = [
    "SPAN_COLUMNS",
    "OtlpDecodeError",
    "Phase",
    "SpanRow",
    "decode_json",
    "decode_protobuf",
    "span_phase",
    "span_rows",
]

Phase = Literal["llm", "tool", "agent", "other"]
PHASES: Final[tuple[Phase, ...]] = get_args(Phase)

_OPERATION_PHASE: Final[Mapping[str, Phase]] = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "embeddings": "llm",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
}
_KIND_NAMES: Final = {
    Span.SPAN_KIND_INTERNAL: "internal",
    Span.SPAN_KIND_SERVER: "server",
    Span.SPAN_KIND_CLIENT: "client",
    Span.SPAN_KIND_PRODUCER: "producer",
    Span.SPAN_KIND_CONSUMER: "consumer",
}
_STATUS_NAMES: Final = {
    Status.STATUS_CODE_OK: "ok",
    Status.STATUS_CODE_ERROR: "error",
}
# Span names and attribute strings are stored, so an agent cannot blow up a row with them.
_MAX_TEXT: Final = 256


class OtlpDecodeError(ValueError):
    """The payload is not an OTLP trace export request."""


@dataclass(frozen=True)
class SpanRow:
    """One span of the agent, flattened (times in Unix nanoseconds, ids in lower-case hex)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    service: str
    name: str
    kind: str
    start_ns: int
    end_ns: int
    phase: Phase
    operation: str
    tool_name: str
    model: str
    input_tokens: int | None
    output_tokens: int | None
    status: str

    @property
    def duration_ms(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e6

    def as_row(self) -> tuple[Any, ...]:
        return astuple(self)


SPAN_COLUMNS: Final[tuple[str, ...]] = tuple(f.name for f in fields(SpanRow))


def span_phase(operation: str, name: str) -> Phase:
    """The phase of a span from its GenAI operation, else from its name's first word."""
    phase = _OPERATION_PHASE.get(operation)
    if phase is not None:
        return phase
    first_word = name.split(" ", 1)[0]
    return _OPERATION_PHASE.get(first_word, "other")


def decode_protobuf(body: bytes) -> ExportTraceServiceRequest:
    """An OTLP/HTTP protobuf body; raises ``OtlpDecodeError`` when it is not one."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise OtlpDecodeError(f"not an OTLP protobuf trace request ({exc})") from exc
    return request


def decode_json(body: bytes) -> ExportTraceServiceRequest:
    """An OTLP/HTTP JSON body (ids in hex, as the OTLP spec says, not protobuf's base64)."""
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise OtlpDecodeError("not an OTLP JSON trace request (expected an object)")
        _hex_ids_to_base64(data)
        request = ExportTraceServiceRequest()
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except OtlpDecodeError:
        raise
    except (ValueError, TypeError, RecursionError, json_format.ParseError) as exc:
        raise OtlpDecodeError(f"not an OTLP JSON trace request ({exc})") from exc
    return request


def _hex_ids_to_base64(data: dict[str, Any]) -> None:
    for resource_spans in _list(data.get("resourceSpans")):
        for scope_spans in _list(_dict(resource_spans).get("scopeSpans")):
            for span in _list(_dict(scope_spans).get("spans")):
                span = _dict(span)
                for key in ("traceId", "spanId", "parentSpanId"):
                    if isinstance(span.get(key), str):
                        span[key] = _hex_to_base64(span[key], key)
                for link in _list(span.get("links")):
                    link = _dict(link)
                    for key in ("traceId", "spanId"):
                        if isinstance(link.get(key), str):
                            link[key] = _hex_to_base64(link[key], key)


def _hex_to_base64(value: str, key: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    except ValueError as exc:
        raise OtlpDecodeError(f"{key} {value[:40]!r} is not hex") from exc


def _list(value: object) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpDecodeError(f"expected a list, got {type(value).__name__}")
    return value


def _dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OtlpDecodeError(f"expected an object, got {type(value).__name__}")
    return value


def span_rows(request: ExportTraceServiceRequest) -> Iterator[SpanRow]:
    """Every span of ``request`` as a row; spans without valid ids are skipped."""
    for resource_spans in request.resource_spans:
        service = _text(_attributes(resource_spans.resource.attributes).get("service.name"))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                row = _span_row(span, service)
                if row is not None:
                    yield row


def _span_row(span: Span, service: str) -> SpanRow | None:
    if len(span.trace_id) != 16 or len(span.span_id) != 8:
        return None
    attributes = _attributes(span.attributes)
    operation = _text(attributes.get("gen_ai.operation.name"))
    name = span.name[:_MAX_TEXT]
    return SpanRow(
        trace_id=binascii.hexlify(span.trace_id).decode("ascii"),
        span_id=binascii.hexlify(span.span_id).decode("ascii"),
        parent_span_id=binascii.hexlify(span.parent_span_id).decode("ascii")
        if len(span.parent_span_id) == 8
        else "",
        service=service,
        name=name,
        kind=_KIND_NAMES.get(span.kind, "unspecified"),
        start_ns=int(span.start_time_unix_nano),
        end_ns=int(span.end_time_unix_nano),
        phase=span_phase(operation, name),
        operation=operation,
        tool_name=_text(attributes.get("gen_ai.tool.name")),
        model=_text(
            attributes.get("gen_ai.request.model") or attributes.get("gen_ai.response.model")
        ),
        input_tokens=_count(attributes.get("gen_ai.usage.input_tokens")),
        output_tokens=_count(attributes.get("gen_ai.usage.output_tokens")),
        status=_STATUS_NAMES.get(span.status.code, "unset"),
    )


def _attributes(pairs: Any) -> dict[str, AnyValue]:
    found: dict[str, AnyValue] = {}
    pair: KeyValue
    for pair in pairs:
        found[pair.key] = pair.value
    return found


def _text(value: AnyValue | None) -> str:
    if value is None:
        return ""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value[:_MAX_TEXT]
    if kind in ("int_value", "double_value", "bool_value"):
        return str(getattr(value, kind))
    return ""


def _count(value: AnyValue | None) -> int | None:
    if value is None:
        return None
    kind = value.WhichOneof("value")
    if kind == "int_value" and value.int_value >= 0:
        return int(value.int_value)
    if (
        kind == "double_value"
        and value.double_value >= 0
        and value.double_value == value.double_value
    ):
        return int(value.double_value)
    return None
