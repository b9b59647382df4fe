"""A misconfigured (or fine) OpenAI-style server for the preflight tests, as a child process.

``python preflight_server.py MODE`` listens on a free loopback port and prints
``READY <url>``. Modes: ``ok`` (a short SSE answer), ``notfound`` (404 for every path, as a
wrong base URL meets), ``auth`` (401 unless ``Authorization: Bearer good-key``), ``html``
(200 with a web page), ``model`` (404 model_not_found unless the model is one of
``/v1/models``'s), ``error`` (always 500), ``flaky`` (500 for the first POST, then ``ok``).
``GET /_count`` answers how many chat POSTs arrived, and each ``[model, max_tokens]`` they
sent (``seen``).
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODELS = ("llama-a", "llama-b")
GOOD_KEY = "good-key"
_lock = threading.Lock()
_posts = 0
_seen: set[tuple[str, int | None]] = set()


class Handler(BaseHTTPRequestHandler):
    mode = "ok"
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/_count":
            counts = {"posts": _posts, "seen": sorted(_seen, key=str)}
            self._send(200, "application/json", json.dumps(counts).encode())
        elif self.path == "/v1/models" and self.mode != "notfound":
            data = [{"id": m, "object": "model"} for m in MODELS]
            self._send(200, "application/json", json.dumps({"data": data}).encode())
        else:
            self._send(404, "application/json", b'{"detail":"Not Found"}')

    def do_POST(self) -> None:
        global _posts
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        with _lock:
            _posts += 1
            first = _posts == 1
            _seen.add((str(body.get("model")), body.get("max_tokens")))
        if self.mode == "error" or (self.mode == "flaky" and first):
            self._send(500, "application/json", b'{"error": {"message": "engine crashed"}}')
        elif self.mode == "notfound" or self.path != "/v1/chat/completions":
            self._send(404, "application/json", b'{"detail":"Not Found"}')
        elif self.mode == "auth" and self.headers.get("authorization") != f"Bearer {GOOD_KEY}":
            error = {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}
            self._send(401, "application/json", json.dumps(error).encode())
        elif self.mode == "html":
            self._send(200, "text/html; charset=utf-8", b"<html><body>Welcome</body></html>")
        elif self.mode == "model" and body.get("model") not in MODELS:
            message = f"The model `{body.get('model')}` does not exist."
            error = {"error": {"message": message, "code": "model_not_found"}}
            self._send(404, "application/json", json.dumps(error).encode())
        else:
            self._stream()

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self) -> None:
        events = [
            {"choices": [{"index": 0, "delta": {"role": "assistant"}}]},
            {"choices": [{"index": 0, "delta": {"content": "Hello"}}]},
            {"choices": [{"index": 0, "delta": {"content": " there."}}]},
            {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}},
        ]
        payload = b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events)
        self._send(200, "text/event-stream", payload + b"data: [DONE]\n\n")


def main() -> None:
    Handler.mode = sys.argv[1]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"READY http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
