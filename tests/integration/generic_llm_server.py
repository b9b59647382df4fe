"""An OpenAI-compatible streaming server whose answers are generic text, like a model with
random weights: every request is served correctly at the protocol level, no answer is right.

``with generic_llm_server() as url: ...`` serves ``POST /v1/chat/completions`` on a free
loopback port (a real HTTP/1.1 server in a thread, chunked SSE with usage, keep-alive).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["GENERIC_WORDS", "generic_llm_server"]

GENERIC_WORDS = ("the", "model", "says", "something", "quite", "unrelated", "here", "today")
_EVENT_GAP_S = 0.004


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path != "/v1/chat/completions" or not request.get("stream"):
            body = b'{"error": {"message": "stream only"}}'
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        model = str(request.get("model", "random"))
        self._event({"choices": [{"index": 0, "delta": {"role": "assistant"}}], "model": model})
        for word in GENERIC_WORDS:
            time.sleep(_EVENT_GAP_S)
            self._event({"choices": [{"index": 0, "delta": {"content": word + " "}}]})
        usage = {"prompt_tokens": 12, "completion_tokens": len(GENERIC_WORDS), "total_tokens": 20}
        self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        self._event({"choices": [], "usage": usage})
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _event(self, payload: dict[str, Any]) -> None:
        self._chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


@contextmanager
def generic_llm_server() -> Iterator[str]:
    """The base URL of a running server; stopped on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
