"""A lean gevent chat-completions server with exactly known timing, for client measurements.

Run: ``python benchmarks/sse_server.py [--port 0]``; prints ``QI_READY http://127.0.0.1:<port>``.
A request's JSON body may carry ``metadata`` with ``ttft_ms``, ``itl_ms``, ``tokens``,
``pad`` (extra bytes per event), ``stamp`` (the first token reads ``sent@<t> start@<t>``:
its send time and when the request was parsed, as perf_counter values) and ``fault``
(``http_500_html``, ``cut_mid_event``, ``invalid_json``, ``missing_done``, ``reset``,
``stall``, ``error_event``). Tokens are sent
on an absolute schedule (start + ttft + i * itl), so lateness never accumulates.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from gevent.server import StreamServer  # noqa: E402

DEFAULTS = {"ttft_ms": 200.0, "itl_ms": 20.0, "tokens": 20, "pad": 0}
# How late (ms) each first token left this server compared with its schedule: the part
# of a client's TTFT error that is the server's, not the client's. GET /stats reads and
# resets it.
LATENESS_MS: list[float] = []
CONNECTIONS = [0]  # accepted since the last GET /stats: keep-alive reuse shows as few


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def _event(obj: Any) -> bytes:
    return _chunk(b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n")


def _sleep_until(deadline: float) -> None:
    delay = deadline - time.perf_counter()
    if delay > 0:
        gevent.sleep(delay)


def _read_request(sock: socket.socket, buf: bytes) -> tuple[str, dict[str, Any], bytes] | None:
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            return None
        rest += data
    body = json.loads(rest[:length] or b"{}")
    return path, body, rest[length:]


def _stream(sock: socket.socket, body: dict[str, Any], meta: dict[str, Any]) -> bool:
    """Send one streamed answer; False when the connection must close afterwards."""
    start = time.perf_counter()
    ttft = float(meta.get("ttft_ms", DEFAULTS["ttft_ms"])) / 1000
    itl = float(meta.get("itl_ms", DEFAULTS["itl_ms"])) / 1000
    tokens = int(meta.get("tokens", DEFAULTS["tokens"]))
    pad = "x" * int(meta.get("pad", DEFAULTS["pad"]))
    fault = meta.get("fault", "")
    if fault == "http_500_html":
        page = b"<html><body><h1>500 Internal Server Error</h1></body></html>"
        sock.sendall(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(page), page)
        )
        return True
    sock.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    base = {"id": "cmpl-1", "object": "chat.completion.chunk", "model": "sim"}
    sock.sendall(_event({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}))
    for i in range(tokens):
        _sleep_until(start + ttft + i * itl)
        if i == tokens // 2 and fault in ("cut_mid_event", "reset", "stall", "invalid_json"):
            if fault == "cut_mid_event":
                sock.sendall(_chunk(b'data: {"choices":[{"delta":{"cont'))
                return False
            if fault == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return False
            if fault == "stall":
                gevent.sleep(float(meta.get("stall_s", 30)))
                return False
            sock.sendall(_chunk(b"data: {not json\n\n"))
            continue
        delta = {"content": f"tok{i} {pad}" if pad else f"tok{i} "}
        if i == 0 and meta.get("stamp"):
            # perf_counter is CLOCK_MONOTONIC, shared by every process of the host: the
            # client can subtract this send time from its t_first to get its own delay.
            delta["content"] = f"sent@{time.perf_counter():.7f} start@{start:.7f} "
        event = _event({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        if i == 0:
            LATENESS_MS.append((time.perf_counter() - start - ttft) * 1000)
        sock.sendall(event)
    if fault == "error_event":
        sock.sendall(_event({"error": {"message": "overloaded", "type": "server_error"}}))
    final: dict[str, Any] = {
        **base,
        "choices": [],
        "server_timing": {"request": 0.1, "tool": 0.0, "llm": ttft * 1000, "format": 0.1},
    }
    if body.get("stream_options", {}).get("include_usage"):
        final["usage"] = {
            "prompt_tokens": 7,
            "completion_tokens": tokens,
            "total_tokens": tokens + 7,
        }
    sock.sendall(_event(final))
    if fault != "missing_done":
        sock.sendall(_chunk(b"data: [DONE]\n\n"))
    sock.sendall(b"0\r\n\r\n")
    return True


def _complete(sock: socket.socket, meta: dict[str, Any]) -> bool:
    ttft = float(meta.get("ttft_ms", DEFAULTS["ttft_ms"])) / 1000
    itl = float(meta.get("itl_ms", DEFAULTS["itl_ms"])) / 1000
    tokens = int(meta.get("tokens", DEFAULTS["tokens"]))
    if meta.get("fault") == "http_500_html":
        return _stream(sock, {}, meta)
    gevent.sleep(ttft + max(tokens - 1, 0) * itl)
    payload = json.dumps(
        {
            "id": "cmpl-1",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "".join(f"tok{i} " for i in range(tokens)),
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 7, "completion_tokens": tokens, "total_tokens": tokens + 7},
        }
    ).encode()
    sock.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Server-Timing: request;dur=0.1, tool;dur=0, llm;dur=%.1f, format;dur=0.1\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (ttft * 1000, len(payload), payload)
    )
    return True


def handle(sock: socket.socket, _addr: Any) -> None:
    CONNECTIONS[0] += 1
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    try:
        while True:
            request = _read_request(sock, buf)
            if request is None:
                return
            path, body, buf = request
            meta = body.get("metadata") or {}
            if path.endswith("/chat/completions"):
                keep = _stream(sock, body, meta) if body.get("stream") else _complete(sock, meta)
            elif path == "/stats":
                late = sorted(LATENESS_MS)
                LATENESS_MS.clear()
                stats = {"n": len(late), "connections": CONNECTIONS[0]}
                CONNECTIONS[0] = 0
                if late:
                    stats["p50_ms"] = round(late[len(late) // 2], 3)
                    stats["p99_ms"] = round(late[min(len(late) - 1, int(len(late) * 0.99))], 3)
                text = json.dumps(stats).encode()
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text))
                keep = True
            else:
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                keep = True
            if not keep:
                return
    except OSError:
        return
    finally:
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = StreamServer(("127.0.0.1", args.port), handle, backlog=2048)
    server.start()
    print(f"QI_READY http://127.0.0.1:{server.server_port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
