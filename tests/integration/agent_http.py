"""A minimal raw-socket HTTP/1.1 client for the reference agent tests: exact bytes and times.

Reads whatever arrived (no buffering layer), de-chunks the body incrementally and stamps each
SSE event with `time.perf_counter()` when its last byte arrived.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Response", "chat_body", "request"]


def chat_body(text: str = "What is 2 + 2?", **fields: Any) -> bytes:
    payload: dict[str, Any] = {"model": "qi", "messages": [{"role": "user", "content": text}]}
    payload.update(fields)
    return json.dumps(payload).encode()


@dataclass
class Response:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    t_send: float = 0.0
    events: list[tuple[float, bytes]] = field(default_factory=list)
    """(arrival time, raw event including its trailing blank line) per complete SSE event."""
    t_done: float = 0.0
    complete: bool = False
    """True when the chunked body ended with its terminating zero-size chunk."""
    error: str = ""

    def json(self) -> Any:
        return json.loads(self.body)

    def content_times(self) -> list[float]:
        """Arrival times of the events that carry content (never the role-only chunk)."""
        times = []
        for stamp, raw in self.events:
            if raw.startswith(b"data: {"):
                try:
                    chunk = json.loads(raw[6:])
                except ValueError:
                    continue
                choices = chunk.get("choices") or []
                if choices and choices[0].get("delta", {}).get("content"):
                    times.append(stamp)
        return times


class _Dechunker:
    def __init__(self) -> None:
        self.raw = b""
        self.body = b""
        self.done = False

    def feed(self, data: bytes) -> None:
        self.raw += data
        while not self.done:
            line_end = self.raw.find(b"\r\n")
            if line_end < 0:
                return
            size = int(self.raw[:line_end].split(b";")[0], 16)
            if len(self.raw) < line_end + 2 + size + 2:
                return
            start = line_end + 2
            self.body += self.raw[start : start + size]
            self.raw = self.raw[start + size + 2 :]
            if size == 0:
                self.done = True


def request(
    url: str,
    method: str = "POST",
    path: str = "/v1/chat/completions",
    body: bytes | None = None,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 15.0,
    raw_request: bytes | None = None,
) -> Response:
    """Send one request on a fresh connection and read the whole response (until complete,
    closed, reset or timed out; never raises for those)."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    response = Response()
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if raw_request is None:
            lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
            if body is not None:
                lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            raw_request = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
        response.t_send = time.perf_counter()
        sock.sendall(raw_request)
        _read(sock, response)
    except OSError as exc:
        response.error = f"{type(exc).__name__}: {exc}"
    finally:
        response.t_done = time.perf_counter()
        sock.close()
    return response


def _read(sock: socket.socket, response: Response) -> None:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            response.error = "closed before headers"
            return
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    response.status = int(status_line.split()[1])
    for line in header_lines:
        name, _, value = line.partition(":")
        response.headers[name.strip().lower()] = value.strip()
    chunked = response.headers.get("transfer-encoding") == "chunked"
    length = int(response.headers.get("content-length", "-1"))
    dechunker = _Dechunker()
    data = rest
    seen = 0
    while True:
        if chunked:
            dechunker.feed(data)
            body = dechunker.body
        else:
            body = response.body + data
        response.body = body
        stamp = time.perf_counter()
        while (end := body.find(b"\n\n", seen)) >= 0:
            response.events.append((stamp, body[seen : end + 2]))
            seen = end + 2
        if (chunked and dechunker.done) or (not chunked and len(body) >= length >= 0):
            response.complete = True
            return
        data = sock.recv(65536)
        if not data:
            response.error = "closed mid-body"
            return
