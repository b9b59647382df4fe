"""The MCP client against an in-process streamable-HTTP server that answers in JSON or SSE."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from gevent.server import StreamServer
from raw_http import requests_from

from qi_load.errors import QiLoadError
from qi_load.generate.limits import MAX_ERROR_BODY_BYTES, MAX_SSE_LINE_BYTES
from qi_load.generate.mcp import PROTOCOL_VERSION, McpClient


def _sse(*messages: dict[str, Any]) -> bytes:
    return b"".join(b"event: message\ndata: " + json.dumps(m).encode() + b"\n\n" for m in messages)


DEEP = b"[" * 100_000 + b"]" * 100_000
HOSTILE: dict[str, tuple[str, bytes]] = {
    "reply_is_a_list": ("application/json", b"[1]"),
    "result_is_a_string": ("application/json", b'{"jsonrpc":"2.0","id":2,"result":"x"}'),
    "id_is_a_list": ("application/json", b'{"jsonrpc":"2.0","id":[2],"result":{}}'),
    "deep_nesting": ("application/json", DEEP),
    "deep_in_sse": ("text/event-stream", b"data: " + DEEP[:3000] + b"\n\n"),
    "nested_error": ("application/json", b'{"id":2,"error":' + DEEP[:2000] + b"}"),
    "invalid_utf8": ("application/json", b'{"jsonrpc":"2.0","id":2,"result":{"a":"\xff"}}'),
    "binary_sse": ("text/event-stream", bytes(range(256)) * 8),
    "huge_line": ("text/event-stream", b"data: " + b"x" * (MAX_SSE_LINE_BYTES + 1)),
    "html": ("text/html", b"<html>hi</html>"),
}


class FakeMcp:
    """Answers initialize over SSE (with a session id), tools/list in JSON, tools/call by name."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.connections = 0
        self.server = StreamServer(("127.0.0.1", 0), self.handle)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/mcp"

    def handle(self, sock: socket.socket, _addr: Any) -> None:
        self.connections += 1
        with sock:
            for head, headers, raw in requests_from(sock):
                body = json.loads(raw or b"{}")
                self.seen.append((headers, body))
                if not self.respond(sock, head.split()[0].decode(), body):
                    return

    def respond(self, sock: socket.socket, verb: str, msg: dict[str, Any]) -> bool:
        def send(status: str, ctype: str, payload: bytes, extra: str = "") -> None:
            sock.sendall(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n{extra}"
                f"Content-Length: {len(payload)}\r\n\r\n".encode()
                + payload
            )

        if verb == "DELETE":
            send("200 OK", "text/plain", b"")
            return True
        method, rid = msg.get("method"), msg.get("id")
        name = (msg.get("params") or {}).get("name", "")
        ok = {"jsonrpc": "2.0", "id": rid}
        if method == "initialize":
            result = {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "serverInfo": {}}
            send(
                "200 OK",
                "text/event-stream",
                _sse({**ok, "result": result}),
                "mcp-session-id: s-1\r\n",
            )
        elif method == "notifications/initialized":
            send("202 Accepted", "application/json", b"")
        elif method == "tools/list":
            send(
                "200 OK",
                "application/json",
                json.dumps({**ok, "result": {"tools": [{"name": "t"}]}}).encode(),
            )
        elif name == "notify_first":
            note = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {}}
            text = {"content": [{"type": "text", "text": "18°C"}], "isError": False}
            send("200 OK", "text/event-stream", _sse(note, {**ok, "result": text}))
        elif name == "tool_error":
            text = {"content": [{"type": "text", "text": "boom"}], "isError": True}
            send("200 OK", "application/json", json.dumps({**ok, "result": text}).encode())
        elif name == "rpc_error":
            error = {"code": -32602, "message": "bad params"}
            send("200 OK", "application/json", json.dumps({**ok, "error": error}).encode())
        elif name == "wrong_id":
            send("200 OK", "application/json", json.dumps({**ok, "id": 999, "result": {}}).encode())
        elif name == "bad_json":
            send("200 OK", "text/event-stream", b"data: {oops\n\n")
        elif name == "no_reply":
            send("200 OK", "text/event-stream", b": nothing\n\n")
        elif name in HOSTILE:
            ctype, payload = HOSTILE[name]
            send("200 OK", ctype, payload)
        elif name == "content_not_a_list":
            text = {"content": 7, "isError": False}
            send("200 OK", "application/json", json.dumps({**ok, "result": text}).encode())
        elif name == "huge_500":
            send("500 Oops", "text/plain", b"e" * (4 * MAX_ERROR_BODY_BYTES))
        elif name == "http_404":
            send("404 Not Found", "text/plain", b"session expired")
        elif name == "cut":
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            sock.sendall(head + b"Content-Length: 500\r\n\r\ndata: {")
            return False
        return True


@pytest.fixture
def fake() -> Iterator[FakeMcp]:
    server = FakeMcp()
    try:
        yield server
    finally:
        server.server.stop()


def test_handshake_session_and_version_headers(fake: FakeMcp) -> None:
    with McpClient(fake.url) as client:
        init = client.initialize()
        assert init.ok and init.status_code == 200 and init.latency_ms is not None
        assert client.session_id == "s-1" and client.protocol_version == PROTOCOL_VERSION
        tools = client.list_tools()
        assert tools.ok and tools.result == {"tools": [{"name": "t"}]}
    methods = [body.get("method") for _, body in fake.seen]
    assert methods == ["initialize", "notifications/initialized", "tools/list", None]  # DELETE
    init_headers, init_body = fake.seen[0]
    assert "mcp-session-id" not in init_headers and "mcp-protocol-version" not in init_headers
    assert "text/event-stream" in init_headers["accept"]
    assert init_body["params"]["protocolVersion"] == PROTOCOL_VERSION and init_body["id"] == 1
    assert "id" not in fake.seen[1][1]  # a notification has no id
    for headers, _ in fake.seen[1:]:
        assert headers["mcp-session-id"] == "s-1"
        assert headers["mcp-protocol-version"] == PROTOCOL_VERSION
    assert fake.connections == 1  # keep-alive across JSON, SSE and 202 answers


def test_sse_reply_after_a_notification(fake: FakeMcp) -> None:
    with McpClient(fake.url) as client:
        client.initialize()
        call = client.call_tool("notify_first", {"city": "Paris"})
        assert call.ok and call.text == "18°C"
        assert fake.seen[-1][1]["params"] == {
            "name": "notify_first",
            "arguments": {"city": "Paris"},
        }


@pytest.mark.parametrize(
    ("tool", "kind", "words"),
    [
        ("tool_error", "protocol", "tool tool_error failed: boom"),
        ("rpc_error", "protocol", "JSON-RPC error: bad params"),
        ("wrong_id", "protocol", "response id 999"),
        ("bad_json", "protocol", "invalid JSON-RPC"),
        ("no_reply", "protocol", "without the JSON-RPC response"),
        ("http_404", "http", "HTTP 404: session expired"),
        ("cut", "protocol", "connection"),
    ],
)
def test_faults_are_results_and_the_client_carries_on(
    fake: FakeMcp, tool: str, kind: str, words: str
) -> None:
    with McpClient(fake.url) as client:
        assert client.initialize().ok
        failed = client.call_tool(tool)
        assert not failed.ok and failed.error_kind == kind and words in failed.error, failed.error
        assert client.list_tools().ok


@pytest.mark.parametrize("tool", HOSTILE)
def test_hostile_replies_are_protocol_failures(fake: FakeMcp, tool: str) -> None:
    with McpClient(fake.url) as client:
        assert client.initialize().ok
        failed = client.call_tool(tool)
        assert failed.error_kind == "protocol" and failed.latency_ms is not None, failed.error
        assert len(failed.error) < 400
        assert client.list_tools().ok


def test_odd_tool_results_and_a_huge_error_body(fake: FakeMcp) -> None:
    with McpClient(fake.url) as client:
        assert client.initialize().ok
        odd = client.call_tool("content_not_a_list")
        assert odd.ok and odd.text == ""
        failed = client.call_tool("huge_500")
        assert failed.error_kind == "http" and failed.bytes == MAX_ERROR_BODY_BYTES
        listed = client.list_tools()
        assert listed.ok and listed.tool_names == ["t"]


def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with McpClient(f"http://127.0.0.1:{port}/mcp") as client:
        result = client.initialize()
    assert not result.ok and result.error_kind == "connect"


def test_bad_url() -> None:
    with pytest.raises(QiLoadError, match="MCP url"):
        McpClient("localhost/mcp")
