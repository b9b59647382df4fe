"""A real OTLP/HTTP trace receiver on a free loopback port for tests: rows collected in memory."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from qi_load.trace.receiver import OtlpTraceReceiver
from qi_load.trace.spans import SpanRow

__all__ = ["OtlpSink", "otlp_sink"]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class OtlpSink:
    url: str
    receiver: OtlpTraceReceiver
    rows: list[SpanRow] = field(default_factory=list)


@contextmanager
def otlp_sink() -> Iterator[OtlpSink]:
    rows: list[SpanRow] = []
    receiver = OtlpTraceReceiver(rows.extend)
    server = make_server(
        "127.0.0.1", 0, receiver, server_class=_ThreadingServer, handler_class=_Quiet
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield OtlpSink(f"http://127.0.0.1:{server.server_port}", receiver, rows)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
