"""The chat client against in-process recorders and scripted servers: requests, framing, resends."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import pytest
from gevent.server import StreamServer
from raw_http import requests_from

from qi_load.errors import QiLoadError
from qi_load.generate.chat import ChatClient, ChatConfig, ChatResult
from qi_load.generate.chat_wire import parse_server_timing
from qi_load.generate.limits import MAX_ERROR_BODY_BYTES, MAX_HEADER_BYTES, MAX_SSE_LINE_BYTES

HI = [{"role": "user", "content": "hi"}]


def test_connection_refused_is_connect(client: Callable[..., ChatClient]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = client(f"http://127.0.0.1:{port}").complete(HI)
    assert not r.ok and r.error_kind == "connect" and "refused" in r.error


def test_bad_base_url_is_a_user_error(client: Callable[..., ChatClient]) -> None:
    with pytest.raises(QiLoadError, match="base_url"):
        client("127.0.0.1:8000")


def answer_for(request_body: bytes, message: dict[str, Any]) -> bytes:
    """A whole keep-alive response carrying ``message``: an event stream when the request
    asked for one (a JSON body would then be a protocol fault), else a JSON body."""
    if json.loads(request_body).get("stream"):
        delta = {
            **message,
            "tool_calls": [{"index": i} for i in range(len(message.get("tool_calls", [])))],
        }
        body = (_chunk(delta) + "data: [DONE]\n\n").encode()
        kind = b"text/event-stream"
    else:
        body = json.dumps({"choices": [{"message": message}]}).encode()
        kind = b"application/json"
    return b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        kind,
        len(body),
        body,
    )


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
                message = {"content": "4", "tool_calls": [{"id": "a"}, {"id": "b"}]}
                sock.sendall(answer_for(body_in, message))


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


def _chunk(delta: dict[str, Any] | None = None, **top: Any) -> str:
    choices = [] if delta is None else [{"index": 0, "delta": delta}]
    return "data: " + json.dumps({"choices": choices, **top}) + "\n\n"


GAP = 0.02
"""A pause in a scripted stream, only where a test times something: each costs its wait."""


class Scripted:
    """Serves one fixed SSE body per connection, in the given pieces; a number among them
    is a pause of that many seconds."""

    def __init__(self, pieces: list[bytes | float], head: bytes = b"") -> None:
        self.pieces, self.head = pieces, head
        self.server = StreamServer(("127.0.0.1", 0), self.handle)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def handle(self, sock: socket.socket, _addr: Any) -> None:
        with sock:
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += sock.recv(65536)
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
                + self.head
                + b"\r\n"
            )
            for piece in self.pieces:
                if isinstance(piece, float):
                    gevent.sleep(piece)
                else:
                    gevent.sleep(0)  # a read per piece, unless the client is slower
                    sock.sendall(piece)


def run_script(pieces: list[str | float], head: bytes = b"", **kw: Any) -> ChatResult:
    """The answer to one request served in ``pieces`` (text, or ``GAP`` pauses)."""
    scripted = Scripted([p.encode() if isinstance(p, str) else p for p in pieces], head=head)
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
            GAP,
            _chunk({"reasoning_content": "thinking"}),
            GAP,
            _chunk({"tool_calls": [call]}),
            GAP,
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
            GAP,
            _chunk({"tool_calls": [{"index": 1, "id": "c2", "function": {"name": "x"}}]}),
            GAP,
            _chunk({"content": "Done"}) + _chunk({"content": "."}),  # two events, one read
            _chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 12}),
            "data: [DONE]\n\n",
        ]
    )
    assert r.ok, r.error
    assert r.reasoning == "thinking" and r.content == "Done." and r.tool_calls == 2
    assert r.token_events == 6 and r.output_tokens == 12 and r.tokens_source == "usage"
    assert r.t_first is not None and r.t_send is not None
    # the role-only chunks came at once: t_first is the reasoning chunk, a gap later
    assert r.ttft_ms is not None and r.ttft_ms >= GAP * 1000 - 5
    # 12 tokens in 6 events: each gap is spread over the 2 tokens an event carried
    assert len(r.itl_ms) == 5 and r.itl_ms[-1] < 1.0  # the last two events shared a read
    assert r.tpot_ms is not None and r.tpot_ms < r.itl_ms[0]


def test_stream_ending_mid_event_without_framing_is_protocol() -> None:
    r = run_script([_chunk({"content": "a"}), 'data: {"choices": [{"delta"'])
    assert r.error_kind == "protocol" and "middle of an event" in r.error
    assert r.content == "" and r.ttft_ms is not None


class Flaky:
    """Answers JSON on keep-alive connections; ``plan(conn, nth)`` says what to do instead
    with the nth request (0-based) of connection ``conn``: ``close`` before any byte,
    ``slow_close`` (the same after 50 ms), ``partial`` (half a status line, then close),
    ``silent`` (never answer) or ``answer``."""

    def __init__(self, plan: Callable[[int, int], str]) -> None:
        self.plan, self.connections, self.requests = plan, 0, 0
        self.server = StreamServer(("127.0.0.1", 0), self.handle)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def handle(self, sock: socket.socket, _addr: Any) -> None:
        conn = self.connections
        self.connections += 1
        with sock:
            for nth, (_head, _headers, body_in) in enumerate(requests_from(sock)):
                self.requests += 1
                action = self.plan(conn, nth)
                if action == "slow_close":
                    gevent.sleep(0.05)
                if action in ("close", "slow_close"):
                    return
                if action == "partial":
                    sock.sendall(b"HTTP/1.1 2")
                    return
                if action == "silent":
                    gevent.sleep(5)
                    return
                sock.sendall(answer_for(body_in, {"content": "4"}))


@pytest.fixture
def flaky() -> Iterator[Callable[[Callable[[int, int], str]], Flaky]]:
    made: list[Flaky] = []

    def make(plan: Callable[[int, int], str]) -> Flaky:
        made.append(Flaky(plan))
        return made[-1]

    try:
        yield make
    finally:
        for server in made:
            server.server.stop()


def test_reused_connection_dead_before_any_byte_is_resent_once_on_a_fresh_one(
    flaky: Callable[[Callable[[int, int], str]], Flaky], client: Callable[..., ChatClient]
) -> None:
    server = flaky(lambda _conn, nth: "close" if nth else "answer")
    c = client(server.url)
    results = [c.complete(HI) for _ in range(3)]
    assert all(r.ok for r in results) and [r.retries for r in results] == [0, 1, 1]
    # Three answered, two dropped unanswered: each on a connection of its own after the first.
    assert server.connections == 3 and server.requests == 5


def test_a_resent_request_is_timed_from_its_first_attempt(
    flaky: Callable[[Callable[[int, int], str]], Flaky], client: Callable[..., ChatClient]
) -> None:
    server = flaky(lambda _conn, nth: "slow_close" if nth else "answer")
    c = client(server.url)
    first, resent = c.complete(HI), c.complete(HI)
    assert first.ok and resent.ok and resent.retries == 1
    # The dead connection took 50 ms to say so: the user waited for it too.
    assert resent.e2e_ms is not None and resent.e2e_ms >= 50
    assert resent.ttft_ms is not None and resent.ttft_ms >= 50


def test_a_fresh_connection_that_fails_is_an_error_and_a_retry_is_not_retried(
    flaky: Callable[[Callable[[int, int], str]], Flaky], client: Callable[..., ChatClient]
) -> None:
    fresh_fails = flaky(lambda _conn, _nth: "close")
    r = client(fresh_fails.url).complete(HI)
    assert r.error_kind == "protocol" and "before the response" in r.error and r.retries == 0
    assert fresh_fails.connections == 1
    only_first = flaky(lambda conn, nth: "answer" if conn == nth == 0 else "close")
    c = client(only_first.url)
    assert c.complete(HI).ok
    r = c.complete(HI)
    assert r.error_kind == "protocol" and r.retries == 1 and only_first.connections == 2
    assert c.complete(HI).retries == 0  # after a fault the next request starts fresh


@pytest.mark.parametrize("action", ["partial", "silent"])
def test_a_reused_connection_that_answered_or_is_slow_is_not_resent(
    action: str,
    flaky: Callable[[Callable[[int, int], str]], Flaky],
    client: Callable[..., ChatClient],
) -> None:
    server = flaky(lambda _conn, nth: action if nth else "answer")
    c = client(server.url)
    assert c.complete(HI).ok
    if action == "silent":
        # Any timeout proves a slow answer is not resent; the answered requests keep the
        # default, so that a loaded host cannot time them out first.
        c.config = c.config.model_copy(update={"first_byte_timeout": 0.05})
    r = c.complete(HI)
    assert not r.ok and r.retries == 0 and server.requests == 2
    assert r.error_kind == ("timeout" if action == "silent" else "protocol"), r.error


def test_llama_cpp_chunks_ping_comments_and_a_stream_without_done() -> None:
    role = {"role": "assistant", "content": None}
    usage = {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    timings = {"prompt_ms": 5.0, "predicted_ms": 20.0, "predicted_per_token_ms": 10.0}
    finish = 'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}\n\n'
    body = [
        _chunk(role),
        ": ping\n\n",
        _chunk({"content": "Caf"}),
        _chunk({"content": "é 🙂"}),  # two tokens in one event: llama.cpp held one back
        finish,
        _chunk(None, usage=usage, timings=timings),
    ]
    r = run_script([*body[:2], GAP, *body[2:], "data: [DONE]\n\n"])
    assert r.ok and r.content == "Café 🙂" and r.output_tokens == 3 and r.token_events == 2
    # the role chunk and the ping came at once: the first token is a gap later
    assert r.ttfc_ms == r.ttft_ms and r.ttft_ms is not None and r.ttft_ms >= GAP * 1000 - 5
    assert r.server_phases == {"llm": 25.0}  # llama.cpp's prefill + generation
    assert run_script(body).ok  # no [DONE], but the answer said it was finished
    cut = run_script(body[:4])  # neither [DONE] nor a finish_reason: maybe cut short
    assert cut.error_kind == "protocol" and "[DONE] or a finish_reason" in cut.error


def test_reasoning_first_then_content_sets_ttft_and_ttfc_apart() -> None:
    r = run_script(
        [
            _chunk({"role": "assistant", "content": ""}),
            _chunk({"reasoning_content": "hmm", "content": None}),
            GAP,
            _chunk({"content": "42"}),
            "data: [DONE]\n\n",
        ]
    )
    assert r.ok and r.reasoning == "hmm" and r.content == "42"
    assert r.ttft_ms is not None and r.ttfc_ms is not None
    assert r.ttfc_ms - r.ttft_ms >= GAP * 1000 - 5


def test_the_reference_agent_is_known_by_its_response_header() -> None:
    body = [_chunk({"content": "hi"}), "data: [DONE]\n\n"]
    marked = run_script(body, head=b"X-Qi-Load-Agent: reference\r\n")
    assert marked.ok and marked.agent == "reference" and marked.from_reference_agent
    other = run_script(body, head=b"X-Qi-Load-Agent: something-else\r\n")
    assert other.agent == "something-else" and not other.from_reference_agent
    plain = run_script(body)
    assert plain.agent == "" and not plain.from_reference_agent


class Canned:
    """Answers every request on a keep-alive connection with one fixed raw response."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.server = StreamServer(("127.0.0.1", 0), self.handle)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def handle(self, sock: socket.socket, _addr: Any) -> None:
        with sock:
            for _request in requests_from(sock):
                try:
                    sock.sendall(self.response)
                except OSError:
                    return


def canned(kind: bytes, body: bytes, status: bytes = b"200 OK") -> ChatResult:
    head = b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
    server = Canned(head % (status, kind, len(body)) + body)
    try:
        with ChatClient(ChatConfig(base_url=server.url, stream=kind != b"application/json")) as c:
            return c.complete(HI)
    finally:
        server.server.stop()


DEEP = "[" * 100_000 + "]" * 100_000
WRONG_SHAPES = {
    "choice is a number": '{"choices":[1]}',
    "choice is null": '{"choices":[null]}',
    "choices is a string": '{"choices":"x"}',
    "delta is a string": '{"choices":[{"delta":"x"}]}',
    "content is a list": '{"choices":[{"delta":{"content":[1]}}]}',
    "reasoning is an object": '{"choices":[{"delta":{"reasoning_content":{"a":1}}}]}',
    "tool_calls is an object": '{"choices":[{"delta":{"tool_calls":{"a":1}}}]}',
    "a tool call is a string": '{"choices":[{"delta":{"tool_calls":["x"]}}]}',
    "a tool call index is a list": '{"choices":[{"delta":{"tool_calls":[{"index":[1]}]}}]}',
    "usage is a string": '{"choices":[],"usage":"x"}',
    "negative tokens": '{"choices":[],"usage":{"completion_tokens":-1}}',
    "tokens as text": '{"choices":[],"usage":{"completion_tokens":"5"}}',
    "tokens as a float": '{"choices":[],"usage":{"completion_tokens":1e20}}',
    "deep nesting": DEEP,
    "deep nesting inside": '{"choices":[{"delta":{"content":' + DEEP + "}}]}",
    "nested error": '{"error":' + "[" * 500 + "]" * 500 + "}",
}


@pytest.mark.parametrize("data", WRONG_SHAPES.values(), ids=WRONG_SHAPES.keys())
def test_wrong_shapes_in_a_stream_are_protocol_failures(data: str) -> None:
    body = _chunk({"content": "a"}) + f"data: {data}\n\n" + "data: [DONE]\n\n"
    r = canned(b"text/event-stream", body.encode())
    assert r.error_kind == "protocol" and not r.ok, r.error
    assert r.e2e_ms is not None and r.e2e_ms > 0 and len(r.error) < 400


@pytest.mark.parametrize(
    "body",
    [
        b'{"choices":[{"message":"x"}]}',
        b'{"choices":[{"message":{"content":5}}]}',
        b"[1]",
        DEEP.encode(),
        b'{"choices":[{"message":{"content":"caf\xe9"}}]}',
        b"\x00\xff" * 100,
    ],
    ids=["message string", "content number", "list", "deep", "latin-1", "binary"],
)
def test_wrong_json_answers_are_protocol_failures(body: bytes) -> None:
    r = canned(b"application/json", body)
    assert r.error_kind == "protocol" and r.e2e_ms is not None, r.error


def test_binary_invalid_utf8_and_a_huge_line_in_a_stream_are_protocol_failures() -> None:
    assert canned(b"text/event-stream", bytes(range(256)) * 4).error_kind == "protocol"
    bad = b'data: {"choices":[{"delta":{"content":"caf\xe9"}}]}\n\ndata: [DONE]\n\n'
    r = canned(b"text/event-stream", bad)
    assert r.error_kind == "protocol" and "UTF-8" in r.error
    huge = b"data: " + b"x" * (MAX_SSE_LINE_BYTES + 1) + b"\n\n"
    r = canned(b"text/event-stream", huge)
    assert r.error_kind == "protocol" and "line longer" in r.error


def test_a_json_answer_to_a_streamed_request_is_a_protocol_failure() -> None:
    server = Canned(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 41\r\n\r\n"
        b'{"choices":[{"message":{"content":"4"}}]}'
    )
    try:
        with ChatClient(ChatConfig(base_url=server.url)) as c:
            r = c.complete(HI)
    finally:
        server.server.stop()
    assert r.error_kind == "protocol" and "--no-stream" in r.error


def test_a_huge_error_body_is_read_only_to_its_cap_and_the_connection_dropped() -> None:
    body = b"<html>" + b"x" * (8 * MAX_ERROR_BODY_BYTES)
    r = canned(b"text/html", body, status=b"500 Internal Server Error")
    assert (
        r.error_kind == "http" and r.status_code == 500 and r.error.startswith("HTTP 500: <html>")
    )
    assert r.bytes == MAX_ERROR_BODY_BYTES and r.e2e_ms is not None
    escaped = canned(b"text/plain", b"\x1b]0;pwned\x07\x1b[2J oops", status=b"502 Bad Gateway")
    assert escaped.error == "HTTP 502: ?]0;pwned??[2J oops"  # no terminal escapes reach logs


def test_negative_and_infinite_server_timings_are_dropped() -> None:
    timings = '{"prompt_ms": -5, "predicted_ms": 1}'
    phases = '{"request": -1, "tool": 1e999, "llm": 12.5, "format": "3"}'
    body = (
        _chunk({"content": "a"})
        + f'data: {{"choices":[],"timings":{timings},"server_timing":{phases}}}\n\n'
        + "data: [DONE]\n\n"
    )
    r = canned(b"text/event-stream", body.encode())
    assert r.ok and r.server_phases == {"llm": 12.5}, r.server_phases
    assert parse_server_timing("request;dur=-1, llm;dur=inf, tool;dur=nan, x;dur=2") == {"x": 2.0}


def test_a_long_server_timing_entry_parses_in_linear_time() -> None:
    import time

    started = time.process_time()
    assert parse_server_timing("a" * 60_000 + ";b" * 5000) == {}
    assert time.process_time() - started < 0.5


def test_a_connect_timeout_is_connect(client: Callable[..., ChatClient]) -> None:
    # A listener whose accept queue is full drops new SYNs: the connect never completes.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        fillers = []
        try:
            for _ in range(4):
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(listener.getsockname())
                fillers.append(filler)
            gevent.sleep(0.01)  # loopback completes the fillers' handshakes at once: margin
            # Any connect timeout proves the kind; 50 ms keeps it well above a timer's slack.
            r = client(url, connect_timeout=0.05).complete(HI)
        finally:
            for filler in fillers:
                filler.close()
    assert r.error_kind == "connect" and "connect timeout" in r.error, r.error
    assert r.e2e_ms is not None and r.e2e_ms >= 40


def test_endless_response_headers_are_a_protocol_failure_at_their_cap() -> None:
    def handle(sock: socket.socket, _addr: Any) -> None:
        with sock:
            sock.recv(65536)
            try:
                sock.sendall(b"HTTP/1.1 200 OK\r\nX-Big: ")
                for _ in range(1000):  # 64 MiB unless the client stops reading
                    sock.sendall(b"a" * 65536)
            except OSError:
                return

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    try:
        with ChatClient(ChatConfig(base_url=f"http://127.0.0.1:{server.server_port}")) as c:
            r = c.complete(HI)
    finally:
        server.stop()
    assert r.error_kind == "protocol" and f"headers longer than {MAX_HEADER_BYTES}" in r.error
    assert r.e2e_ms is not None and r.e2e_ms < 2000
