"""The OTLP/HTTP receiver as a WSGI application: statuses, bounds, budget."""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from qi_load.trace.receiver import MAX_BODY_BYTES, MAX_DECODED_BYTES, OtlpTraceReceiver
from qi_load.trace.spans import SpanRow


def _spans(n: int) -> bytes:
    spans = [
        Span(trace_id=bytes([1] * 16), span_id=(i + 1).to_bytes(8, "big"), name=f"s{i}")
        for i in range(n)
    ]
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    )
    return request.SerializeToString()


def _call(
    app: OtlpTraceReceiver,
    body: bytes,
    *,
    content_type: str = "application/x-protobuf",
    path: str = "/v1/traces",
    method: str = "POST",
    encoding: str = "",
) -> tuple[str, bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"] = status

    environ = {
        "PATH_INFO": path,
        "REQUEST_METHOD": method,
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_CONTENT_ENCODING": encoding,
        "wsgi.input": io.BytesIO(body),
    }
    reply = b"".join(app(environ, start_response))
    return seen["status"], reply


def _receiver(max_spans: int = 1000) -> tuple[OtlpTraceReceiver, list[SpanRow]]:
    got: list[SpanRow] = []
    return OtlpTraceReceiver(got.extend, max_spans=max_spans), got


def test_protobuf_export_is_accepted() -> None:
    app, got = _receiver()
    status, body = _call(app, _spans(3))
    assert status == "200 OK" and len(got) == 3
    assert not ExportTraceServiceResponse.FromString(body).HasField("partial_success")


def test_gzip_and_json_are_accepted() -> None:
    app, got = _receiver()
    assert _call(app, gzip.compress(_spans(2)), encoding="gzip")[0] == "200 OK"
    status, body = _call(app, b'{"resourceSpans": []}', content_type="application/json")
    assert status == "200 OK" and json.loads(body) == {}
    assert len(got) == 2


def test_bad_requests_get_the_right_status_and_are_counted() -> None:
    app, got = _receiver()
    assert _call(app, b"", path="/v1/metrics")[0].startswith("404")
    assert _call(app, b"", method="GET")[0].startswith("405")
    assert _call(app, b"x", content_type="text/plain")[0].startswith("415")
    assert _call(app, b"x", encoding="br")[0].startswith("415")
    assert _call(app, b"\xff\xff\xff\xff\x0f")[0].startswith("400")
    assert _call(app, b"not gzip", encoding="gzip")[0].startswith("400")
    status, body = _call(app, b"{", content_type="application/json")
    assert status.startswith("400") and "malformed" in json.loads(body)["message"]
    assert _call(app, b"\0" * (MAX_BODY_BYTES + 1))[0].startswith("413")
    # The fastest level: 3x quicker than the default, and 70 KB is still far below the body cap.
    bomb = gzip.compress(b"\0" * (MAX_DECODED_BYTES + 10), compresslevel=1)
    assert len(bomb) < MAX_BODY_BYTES
    assert _call(app, bomb, encoding="gzip")[0].startswith("413")
    assert got == []
    assert app.counts.payloads_rejected == 7
    assert app.counts.reasons["malformed"] == 2


def test_past_the_budget_spans_are_refused_by_partial_success() -> None:
    app, got = _receiver(max_spans=5)
    _call(app, _spans(3))
    status, body = _call(app, _spans(4))
    assert status == "200 OK" and len(got) == 5
    assert ExportTraceServiceResponse.FromString(body).partial_success.rejected_spans == 2
    assert (app.counts.spans_accepted, app.counts.spans_refused) == (5, 2)
