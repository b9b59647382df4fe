"""The chat client against a known-timing SSE server (subprocess) and an in-process recorder."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest
from gevent.server import StreamServer
from raw_http import requests_from

from qi_load.errors import QiLoadError
from qi_load.generate.chat import ChatClient, ChatConfig, ChatResult, parse_server_timing

SERVER = Path(__file__).resolve().parents[3] / "benchmarks" / "sse_server.py"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def sse_url() -> Iterator[str]:
    process = subprocess.Popen([sys.executable, str(SERVER)], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert line.startswith("QI_READY "), line
        yield line.split()[1]
    finally:
        process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()


def ask(c: ChatClient, **meta: Any) -> ChatResult:
    return c.complete(HI, metadata={"ttft_ms": 40, "itl_ms": 5, "tokens": 8, **meta})


def test_stream_timestamps_tokens_and_server_phases(
    sse_url: str, client: Callable[..., ChatClient]
) -> None:
    r = ask(client(sse_url))
    assert r.ok and r.error_kind == "none" and r.status_code == 200
    assert r.content == "".join(f"tok{i} " for i in range(8))
    assert r.output_tokens == 8 and r.tokens_source == "usage" and r.input_tokens == 7
    assert r.token_events == 8 and len(r.itl_ms) == 7
    assert r.ttft_ms is not None and 40 <= r.ttft_ms < 90
    # the server's schedule is absolute: E2E is at least the truth, 40 + 7 * 5 ms
    assert r.e2e_ms is not None and r.e2e_ms >= 40 + 7 * 5 - 0.5
    assert r.tpot_ms is not None and 3 < r.tpot_ms < 20
    assert r.itl_p50_ms is not None and r.itl_max_ms is not None and r.itl_max_ms >= r.itl_p50_ms
    assert r.server_phases == {"request": 0.1, "tool": 0.0, "llm": 40.0, "format": 0.1}
    assert r.t_sched == r.t_send and r.wall_send > 0 and r.bytes > 0


def test_without_usage_tokens_are_counted_events(
    sse_url: str, client: Callable[..., ChatClient]
) -> None:
    r = ask(client(sse_url, include_usage=False), tokens=5)
    assert r.ok and r.output_tokens == 5 and r.tokens_source == "events"


def test_open_loop_ttft_from_schedule(sse_url: str, client: Callable[..., ChatClient]) -> None:
    import time

    c = client(sse_url)
    r = c.complete(HI, metadata={"ttft_ms": 20, "tokens": 2}, t_sched=time.perf_counter() - 0.5)
    assert r.ttft_sched_ms is not None and r.ttft_ms is not None
    assert r.ttft_sched_ms - r.ttft_ms > 499


def test_non_streaming(sse_url: str, client: Callable[..., ChatClient]) -> None:
    r = ask(client(sse_url, stream=False))
    assert r.ok and r.output_tokens == 8 and r.tokens_source == "usage"
    assert r.ttft_ms == r.e2e_ms and r.tpot_ms is None
    assert r.server_phases["llm"] == 40.0
    assert r.content.startswith("tok0 ")


@pytest.mark.parametrize(
    ("fault", "kind", "words"),
    [
        ("http_500_html", "http", "HTTP 500"),
        ("cut_mid_event", "protocol", "mid-stream"),
        ("invalid_json", "protocol", "invalid JSON"),
        ("missing_done", "protocol", "[DONE]"),
        ("reset", "protocol", "reset"),
        ("error_event", "protocol", "overloaded"),
        ("stall", "timeout", "total timeout"),
    ],
)
def test_faults_become_failures_and_the_client_carries_on(
    sse_url: str, fault: str, kind: str, words: str, client: Callable[..., ChatClient]
) -> None:
    c = client(sse_url, total_timeout=1.0 if fault == "stall" else 30.0)
    before = ask(c)
    r = ask(c, fault=fault, stall_s=3)
    assert not r.ok and r.error_kind == kind and words in r.error, r.error
    if fault == "http_500_html":
        assert r.status_code == 500 and "Internal Server Error" in r.error
    if fault in ("cut_mid_event", "invalid_json", "reset", "stall"):
        assert r.ttft_ms is not None  # the first tokens arrived before the fault
    after = ask(c)
    assert before.ok and after.ok, after.error


def test_first_byte_timeout(sse_url: str, client: Callable[..., ChatClient]) -> None:
    r = ask(client(sse_url, stream=False, first_byte_timeout=0.1), ttft_ms=600)
    assert r.error_kind == "timeout" and "no response headers" in r.error


def test_connection_refused_is_connect(client: Callable[..., ChatClient]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = client(f"http://127.0.0.1:{port}").complete(HI)
    assert not r.ok and r.error_kind == "connect" and "refused" in r.error


def test_bad_base_url_is_a_user_error(client: Callable[..., ChatClient]) -> None:
    with pytest.raises(QiLoadError, match="base_url"):
        client("127.0.0.1:8000")


class Recorder:
    """An in-process HTTP server that keeps each raw request and answers a fixed JSON body."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.connections = 0
        self.server = StreamServer(("127.0.0.1", 0), self.handle)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def handle(self, sock: socket.socket, _addr: Any) -> None:
        self.connections += 1
        with sock:
            for head, _headers, body_in in requests_from(sock):
                self.requests.append(head + b"\r\n\r\n" + body_in)
                body = json.dumps(
                    {
                        "choices": [
                            {"message": {"content": "4", "tool_calls": [{"id": "a"}, {"id": "b"}]}}
                        ]
                    }
                ).encode()
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                sock.sendall(head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    try:
        yield rec
    finally:
        rec.server.stop()


def test_request_headers_body_and_keep_alive(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QI_LOAD_API_KEY", "sk-first")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-second")
    with ChatClient(
        ChatConfig(base_url=recorder.url + "/", model="m1", extra_headers={"X-Team": "perf"})
    ) as c:
        r1 = c.complete(HI, query_type="simple")
        r2 = c.complete(HI)
    assert r1.ok and r2.ok and r1.content == "4" and r1.tool_calls == 2
    assert r1.tokens_source == "events" and r1.output_tokens == 1
    assert recorder.connections == 1  # keep-alive: one connection for both requests
    head, _, body = recorder.requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1")
    assert b"Authorization: Bearer sk-first" in head and b"X-Team: perf" in head
    assert b"User-Agent: qi-load/" in head
    sent = json.loads(body)
    assert sent["model"] == "m1" and sent["stream"] is True and sent["messages"] == HI
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["metadata"] == {"query_type": "simple"}
    assert "metadata" not in json.loads(recorder.requests[1].partition(b"\r\n\r\n")[2])


def test_openai_style_base_url_with_v1(recorder: Recorder) -> None:
    with ChatClient(ChatConfig(base_url=recorder.url + "/v1")) as c:
        assert c.complete(HI).ok
    with ChatClient(ChatConfig(base_url=recorder.url + "/proxy/", chat_path="/chat")) as c:
        assert c.complete(HI).ok
    paths = [r.split(b" ")[1] for r in recorder.requests]
    assert paths == [b"/v1/chat/completions", b"/proxy/chat"]


def test_api_key_falls_back_and_is_never_serialized(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QI_LOAD_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-second")
    with ChatClient(ChatConfig(base_url=recorder.url)) as c:
        c.complete(HI)
    assert b"Bearer sk-second" in recorder.requests[0]
    config = ChatConfig(base_url=recorder.url, api_key="sk-explicit")  # type: ignore[arg-type]
    assert "sk-explicit" not in config.model_dump_json() and "sk-explicit" not in repr(config)
    with ChatClient(config) as c:
        c.complete(HI)
    assert b"Bearer sk-explicit" in recorder.requests[1]


def test_parse_server_timing() -> None:
    header = 'request;dur=1.5, tool;desc="mcp";dur=20, llm;dur=300.25,format;dur=0.5, bad;dur=x'
    assert parse_server_timing(header) == {
        "request": 1.5,
        "tool": 20.0,
        "llm": 300.25,
        "format": 0.5,
    }
    assert parse_server_timing("") == {}


def test_gevent_friendly(sse_url: str, client: Callable[..., ChatClient]) -> None:
    # Ten streams at once finish in about one stream's time: nothing blocks the hub.
    import time

    clients = [client(sse_url) for _ in range(10)]
    start = time.perf_counter()
    results = [g.value for g in gevent.joinall([gevent.spawn(ask, c) for c in clients])]
    assert all(r.ok for r in results)
    assert time.perf_counter() - start < 0.5


def _chunk(delta: dict[str, Any] | None = None, **top: Any) -> str:
    choices = [] if delta is None else [{"index": 0, "delta": delta}]
    return "data: " + json.dumps({"choices": choices, **top}) + "\n\n"


class Scripted:
    """Serves one fixed SSE body per connection, in the given pieces with pauses between."""

    def __init__(self, pieces: list[bytes], pause: float = 0.02) -> None:
        self.pieces, self.pause = pieces, pause
        self.server = StreamServer(("127.0.0.1", 0), self.handle)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def handle(self, sock: socket.socket, _addr: Any) -> None:
        with sock:
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += sock.recv(65536)
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
            )
            for piece in self.pieces:
                gevent.sleep(self.pause)
                sock.sendall(piece)


def run_script(pieces: list[str], **kw: Any) -> ChatResult:
    scripted = Scripted([p.encode() for p in pieces])
    try:
        with ChatClient(ChatConfig(base_url=scripted.url, **kw)) as c:
            return c.complete(HI)
    finally:
        scripted.server.stop()


def test_role_only_and_usage_chunks_carry_no_tokens_reasoning_and_tool_calls_do() -> None:
    call = {"index": 0, "id": "c1", "function": {"name": "get_weather", "arguments": ""}}
    r = run_script(
        [
            _chunk({"role": "assistant"}),
            _chunk({"role": "assistant", "content": ""}),
            _chunk({"reasoning_content": "thinking"}),
            _chunk({"tool_calls": [call]}),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
            _chunk({"tool_calls": [{"index": 1, "id": "c2", "function": {"name": "x"}}]}),
            _chunk({"content": "Done"}) + _chunk({"content": "."}),  # two events, one read
            _chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 12}),
            "data: [DONE]\n\n",
        ]
    )
    assert r.ok, r.error
    assert r.reasoning == "thinking" and r.content == "Done." and r.tool_calls == 2
    assert r.token_events == 6 and r.output_tokens == 12 and r.tokens_source == "usage"
    assert r.t_first is not None and r.t_send is not None
    # the role-only chunks came 20 and 40 ms in: t_first is the reasoning chunk, ~60 ms in
    assert r.ttft_ms is not None and r.ttft_ms >= 55
    # 12 tokens in 6 events: each gap is spread over the 2 tokens an event carried
    assert len(r.itl_ms) == 5 and r.itl_ms[-1] < 1.0  # the last two events shared a read
    assert r.tpot_ms is not None and r.tpot_ms < r.itl_ms[0]


def test_stream_ending_mid_event_without_framing_is_protocol() -> None:
    r = run_script([_chunk({"content": "a"}), 'data: {"choices": [{"delta"'])
    assert r.error_kind == "protocol" and "middle of an event" in r.error
    assert r.content == "" and r.ttft_ms is not None
