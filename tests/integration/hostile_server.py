"""A server that answers chat and MCP requests with hostile responses, one shape after another.

Run: ``python hostile_server.py``; prints ``QI_READY http://127.0.0.1:<port>``.

- ``POST /v1/chat/completions``: each request gets the next of ``CHAT_SHAPES`` in turn
  (wrong-shape JSON, deep nesting, binary, invalid UTF-8, a huge error body, endless
  headers, a huge SSE line, a slow drip, a close mid-stream, code that breaks ``compile()``).
- ``POST /mcp``: a JSON-RPC server whose ``initialize`` always works; every ``tools/call``
  gets the next of ``MCP_SHAPES``; every third ``tools/list`` gets a tools list that is not
  one, and some others a list without a tool the users know.
- ``GET /stats``: ``{"chat": [shape, ...], "mcp": [[method, shape], ...], "shapes": ...}``,
  every request received in order (MCP: the JSON-RPC requests with an id; notifications are
  not rows), and the names of all shapes.

Every response says ``Connection: close`` and the connection is closed after it, so a
client never reuses one (and never resends a request): each request is one server entry.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import socket  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from gevent.server import StreamServer  # noqa: E402

MIB = 1024 * 1024
DEEP = b"[" * 100_000 + b"]" * 100_000
BAD_CODE = "```python\n" + "a" + ".b" * 100_000 + "\n```"
GOOD_CODE = "```python\ndef square(x):\n    return x * x\n```"
LOG: dict[str, list[Any]] = {"chat": [], "mcp": []}
COUNTERS = {"chat": 0, "call": 0, "list": 0}

Send = Callable[[bytes], None]


def _head(status: str, content_type: str, extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nConnection: close\r\n{extra}\r\n"
    ).encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _sse(sock: socket.socket, *events: bytes, end: bool = True) -> None:
    sock.sendall(_head("200 OK", "text/event-stream", "Transfer-Encoding: chunked\r\n"))
    for event in events:
        sock.sendall(_chunk(event))
    if end:
        sock.sendall(b"0\r\n\r\n")


def _data(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _content(text: str) -> bytes:
    return _data({"choices": [{"index": 0, "delta": {"content": text}}]})


_DONE = b"data: [DONE]\n\n"


def _whole(sock: socket.socket, status: str, content_type: str, body: bytes) -> None:
    sock.sendall(_head(status, content_type, f"Content-Length: {len(body)}\r\n") + body)


def _flood(sock: socket.socket, head: bytes, piece: bytes, total: int) -> None:
    """``head`` then ``piece`` until ``total`` bytes: a client that stops reading ends it."""
    sock.sendall(head)
    for _ in range(total // len(piece)):
        sock.sendall(piece)


def _drip(sock: socket.socket, head: bytes, data: bytes) -> None:
    """``head`` then one byte of ``data`` every 0.3 s (the client times out first)."""
    sock.sendall(head)
    for byte in data:
        gevent.sleep(0.3)
        sock.sendall(bytes([byte]))


CHAT_SHAPES: dict[str, Callable[[socket.socket], None]] = {
    "ok": lambda s: _sse(s, _content(GOOD_CODE), _DONE),
    "choice_number": lambda s: _sse(s, _content("a"), b'data: {"choices":[1]}\n\n', _DONE),
    "choice_null": lambda s: _sse(s, b'data: {"choices":[null]}\n\n', _DONE),
    "delta_string": lambda s: _sse(s, b'data: {"choices":[{"delta":"x"}]}\n\n', _DONE),
    "content_list": lambda s: _sse(s, b'data: {"choices":[{"delta":{"content":[1]}}]}\n\n'),
    "usage_text": lambda s: _sse(
        s, _content("a"), b'data: {"choices":[],"usage":{"completion_tokens":"9"}}\n\n', _DONE
    ),
    "deep_nesting": lambda s: _sse(s, b"data: " + DEEP + b"\n\n", _DONE),
    "deep_error": lambda s: _sse(s, b'data: {"error":' + DEEP[:2000] + b"}\n\n"),
    "binary": lambda s: _sse(s, bytes(range(256)) * 64),
    "invalid_utf8": lambda s: _sse(
        s, b'data: {"choices":[{"delta":{"content":"caf\xe9"}}]}\n\n', _DONE
    ),
    "json_for_stream": lambda s: _whole(
        s, "200 OK", "application/json", b'{"choices":[{"message":{"content":"4"}}]}'
    ),
    "html": lambda s: _whole(s, "200 OK", "text/html", b"<html><body>hello</body></html>"),
    "huge_error": lambda s: _flood(
        s,
        _head("500 Internal Server Error", "text/html", f"Content-Length: {200 * MIB}\r\n"),
        b"<p>error</p>" * 5000,
        200 * MIB,
    ),
    "huge_line": lambda s: _flood(
        s,
        _head("200 OK", "text/event-stream") + b"data: ",
        b"x" * 65536,
        30 * MIB,
    ),
    "slow_drip": lambda s: _drip(
        s, _head("200 OK", "text/event-stream"), _content("slow") * 10 + _DONE
    ),
    "slow_headers": lambda s: _drip(s, b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"z" * 100),
    "huge_headers": lambda s: _flood(s, b"HTTP/1.1 200 OK\r\nX-Big: ", b"h" * 65536, 64 * MIB),
    "close_mid_stream": lambda s: _sse(s, _content("half"), b'data: {"choi', end=False),
    "bad_code": lambda s: _sse(s, _content(BAD_CODE), _DONE),
}
"""Each shape writes one whole response (or as much as the client takes) to the socket."""


def _rpc(sock: socket.socket, rid: Any, result: Any, extra: str = "") -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}).encode()
    sock.sendall(
        _head("200 OK", "application/json", f"Content-Length: {len(body)}\r\n{extra}") + body
    )


def _text(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": False}


MCP_SHAPES: dict[str, Callable[[socket.socket, Any], None]] = {
    "ok": lambda s, rid: _rpc(s, rid, _text("17 * 23 = 391")),
    "wrong_answer": lambda s, rid: _rpc(s, rid, _text("42")),
    "content_number": lambda s, rid: _rpc(s, rid, {"content": 7}),
    "result_string": lambda s, rid: _rpc(s, rid, "x"),
    "reply_list": lambda s, _rid: _whole(s, "200 OK", "application/json", b"[1]"),
    "id_list": lambda s, rid: _rpc(s, [rid], {}),
    "deep_nesting": lambda s, _rid: _whole(s, "200 OK", "application/json", DEEP),
    "binary": lambda s, _rid: _sse(s, bytes(range(256)) * 64),
    "invalid_utf8": lambda s, rid: _whole(
        s, "200 OK", "application/json", b'{"jsonrpc":"2.0","id":%d,"result":{"a":"\xff"}}' % rid
    ),
    "huge_error": lambda s, _rid: CHAT_SHAPES["huge_error"](s),
    "huge_line": lambda s, _rid: CHAT_SHAPES["huge_line"](s),
    "huge_headers": lambda s, _rid: CHAT_SHAPES["huge_headers"](s),
    "slow_drip": lambda s, rid: _drip(
        s, _head("200 OK", "text/event-stream"), _data({"id": rid, "result": _text("391")})
    ),
    "close_mid_stream": lambda s, _rid: s.sendall(
        _head("200 OK", "text/event-stream", "Content-Length: 500\r\n") + b"data: {"
    ),
}


def _read_request(sock: socket.socket) -> tuple[str, str, bytes] | None:
    """(method, path, body) of the one request on the connection; None if the client left."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data or len(buf) > MIB:
            return None
        buf += data
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    while len(body) < length:
        data = sock.recv(65536)
        if not data:
            return None
        body += data
    verb, path = lines[0].split()[:2]
    return verb, path, body


def _chat(sock: socket.socket) -> None:
    names = list(CHAT_SHAPES)
    shape = names[COUNTERS["chat"] % len(names)]
    COUNTERS["chat"] += 1
    LOG["chat"].append(shape)
    CHAT_SHAPES[shape](sock)


def _mcp(sock: socket.socket, verb: str, body: bytes) -> None:
    if verb == "DELETE":
        _whole(sock, "200 OK", "text/plain", b"")
        return
    message = json.loads(body)
    method, rid = message.get("method"), message.get("id")
    if rid is None:  # notifications/initialized
        sock.sendall(_head("202 Accepted", "application/json", "Content-Length: 0\r\n"))
        return
    # Logged before answering: a slow answer must not let the next request log first.
    if method == "initialize":
        LOG["mcp"].append([method, "ok"])
        result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {}}
        _rpc(sock, rid, result, "Mcp-Session-Id: hostile\r\n")
    elif method == "tools/list":
        COUNTERS["list"] += 1
        shape, tools = "ok", [{"name": "calculator"}]
        if COUNTERS["list"] % 3 == 0:
            shape, tools = "tools_string", "calculator"
        elif COUNTERS["list"] % 4 == 0:
            shape, tools = "no_known_tool", [{"name": "teleport"}]
        LOG["mcp"].append([method, shape])
        _rpc(sock, rid, {"tools": tools})
    else:
        names = list(MCP_SHAPES)
        shape = names[COUNTERS["call"] % len(names)]
        COUNTERS["call"] += 1
        LOG["mcp"].append([method, shape])
        MCP_SHAPES[shape](sock, rid)


def handle(sock: socket.socket, _addr: Any) -> None:
    try:
        request = _read_request(sock)
        if request is None:
            return
        verb, path, body = request
        if path == "/stats":
            shapes = {"chat": list(CHAT_SHAPES), "mcp": list(MCP_SHAPES)}
            stats = json.dumps({**LOG, "shapes": shapes}).encode()
            _whole(sock, "200 OK", "application/json", stats)
        elif path.startswith("/mcp"):
            _mcp(sock, verb, body)
        else:
            _chat(sock)
    except OSError:
        pass  # the client gave up on a hostile answer: that is the point
    finally:
        sock.close()


def main() -> None:
    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    print(f"QI_READY http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
