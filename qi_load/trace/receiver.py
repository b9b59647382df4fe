"""An OTLP/HTTP trace receiver: the agent (or its Collector) exports spans straight to qi-load.

Speaks OTLP/HTTP ``POST /v1/traces`` in protobuf and JSON, gzip or not. Every payload is
bounded (compressed and decompressed size), malformed ones get ``400`` and oversized ones
``413`` without touching the run; past the run's span budget spans are refused through OTLP's
``partial_success`` so the exporter neither retries nor blocks the agent.
"""

from __future__ import annotations

import json
import logging
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from qi_load.trace.spans import OtlpDecodeError, SpanRow, decode_json, decode_protobuf, span_rows

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DECODED_BYTES",
    "MAX_SPANS",
    "TRACES_PATH",
    "OtlpTraceReceiver",
    "ReceiverCounts",
    "SpanSink",
]

logger = logging.getLogger("qi_load")

TRACES_PATH: Final = "/v1/traces"
# The OTel SDK batches at most 512 spans (~200 KB) per export; a Collector's default batch is
# 8192 spans. 4 MiB on the wire and 16 MiB decoded admit both with room and bound a hostile one.
MAX_BODY_BYTES: Final = 4 * 1024 * 1024
MAX_DECODED_BYTES: Final = 16 * 1024 * 1024
# About 200 bytes a row: the run's spans.csv stays under ~1 GB.
MAX_SPANS: Final = 5_000_000
_PROTOBUF: Final = "application/x-protobuf"
_JSON: Final = "application/json"


class SpanSink(Protocol):
    """Where accepted spans go (the run directory's ``spans.csv`` writer)."""

    def __call__(self, rows: list[SpanRow]) -> None: ...


@dataclass
class ReceiverCounts:
    """What the receiver saw; written to ``run.json`` so a silent exporter is visible."""

    requests: int = 0
    spans_accepted: int = 0
    spans_refused: int = 0
    payloads_rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        self.payloads_rejected += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


@dataclass(frozen=True)
class _Reply:
    status: str
    content_type: str
    body: bytes


class OtlpTraceReceiver:
    """A WSGI application taking OTLP/HTTP trace exports and handing span rows to a sink."""

    def __init__(self, sink: SpanSink, *, max_spans: int = MAX_SPANS) -> None:
        self._sink = sink
        self._max_spans = max_spans
        self._lock = threading.Lock()
        self.counts = ReceiverCounts()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        reply = self._handle(environ)
        start_response(
            reply.status,
            [("Content-Type", reply.content_type), ("Content-Length", str(len(reply.body)))],
        )
        return [reply.body]

    def _handle(self, environ: dict[str, Any]) -> _Reply:
        if environ.get("PATH_INFO") != TRACES_PATH:
            return _text("404 Not Found", f"only POST {TRACES_PATH} is served")
        if environ.get("REQUEST_METHOD") != "POST":
            return _text("405 Method Not Allowed", f"POST {TRACES_PATH}")
        with self._lock:
            self.counts.requests += 1
        content_type = str(environ.get("CONTENT_TYPE", "")).split(";", 1)[0].strip().lower()
        if content_type not in (_PROTOBUF, _JSON):
            return self._reject("415 Unsupported Media Type", "content type", content_type)
        body, problem = _read_body(environ)
        if problem is not None:
            status, reason = problem
            return self._reject(status, reason, content_type)
        try:
            request = decode_json(body) if content_type == _JSON else decode_protobuf(body)
            rows = list(span_rows(request))
        except (OtlpDecodeError, RecursionError) as exc:
            return self._reject("400 Bad Request", "malformed", content_type, str(exc))
        refused = self._accept(rows)
        return _response(content_type, refused)

    def _accept(self, rows: list[SpanRow]) -> int:
        with self._lock:
            room = max(0, self._max_spans - self.counts.spans_accepted)
            taken = rows[:room]
            self.counts.spans_accepted += len(taken)
            self.counts.spans_refused += len(rows) - len(taken)
        if taken:
            self._sink(taken)
        return len(rows) - len(taken)

    def _reject(self, status: str, reason: str, content_type: str, detail: str = "") -> _Reply:
        with self._lock:
            first = reason not in self.counts.reasons
            self.counts.reject(reason)
        if first:  # one log line per kind of bad payload, not one per request
            logger.warning("OTLP receiver: rejected a payload (%s) %s", reason, detail[:200])
        message = f"{reason}{': ' + detail[:200] if detail else ''}"
        if content_type == _JSON:
            return _Reply(status, _JSON, _json_status(message))
        return _text(status, message)


def _read_body(environ: dict[str, Any]) -> tuple[bytes, tuple[str, str] | None]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return b"", ("400 Bad Request", "content length")
    if length > MAX_BODY_BYTES:
        return b"", ("413 Content Too Large", "too large")
    stream = environ["wsgi.input"]
    # Read one byte past the limit so a body without Content-Length still cannot grow unbounded.
    body = stream.read(length) if length else stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return b"", ("413 Content Too Large", "too large")
    encoding = str(environ.get("HTTP_CONTENT_ENCODING", "")).strip().lower()
    if encoding in ("", "identity"):
        return body, None
    if encoding != "gzip":
        return b"", ("415 Unsupported Media Type", "content encoding")
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        decoded = decoder.decompress(body, MAX_DECODED_BYTES + 1)
    except zlib.error:
        return b"", ("400 Bad Request", "bad gzip")
    if len(decoded) > MAX_DECODED_BYTES:
        return b"", ("413 Content Too Large", "too large decoded")
    return decoded, None


def _response(content_type: str, refused: int) -> _Reply:
    response = ExportTraceServiceResponse()
    if refused:
        response.partial_success.CopyFrom(
            ExportTracePartialSuccess(
                rejected_spans=refused, error_message="qi-load: the run's span budget is full"
            )
        )
    if content_type == _JSON:
        return _Reply("200 OK", _JSON, json_format.MessageToJson(response).encode("utf-8"))
    return _Reply("200 OK", _PROTOBUF, response.SerializeToString())


def _text(status: str, message: str) -> _Reply:
    return _Reply(status, "text/plain; charset=utf-8", message.encode("utf-8"))


def _json_status(message: str) -> bytes:
    return json.dumps({"message": message}).encode("utf-8")
