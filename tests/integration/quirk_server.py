"""An OpenAI-compatible streaming server that reproduces real servers' quirks, with known timing.

Run: ``python quirk_server.py [--ttft-ms 40] [--itl-ms 10] [--tokens 16]``; prints
``QI_READY http://127.0.0.1:<port>``. The first path segment picks the style, e.g.
``POST /llama/v1/chat/completions`` (a client's base URL is then ``URL/llama``):

- ``llama``: llama.cpp's ``llama-server``: the role chunk has ``"content": null``; a token that
  ends inside a UTF-8 character is held back and sent with the next one (fewer events than
  tokens); a ``finish_reason`` chunk, then a usage chunk with ``"choices": []`` and llama.cpp's
  ``timings``; the headers advertise keep-alive but the connection is closed after every
  stream. The close comes when the next request has arrived on the connection (or after
  ``--close-wait-ms``), so a client that sends at once always meets a reset: the worst case
  of the race the real server loses now and then.
- ``vllm``: vLLM/DeepSeek reasoning: ``: ping`` comments while waiting, ``--reasoning``
  ``reasoning_content`` deltas, then content; usage chunk with ``"choices": []``.
- ``tools``: two streamed tool calls (index 0 and 1), each an id and name, then its
  arguments in pieces; no content; ``finish_reason: tool_calls``.
- ``split``: every event written in pieces cut at awkward places (inside ``data:``, inside
  a multi-byte character, between the two line ends), the last piece on schedule.
- ``nodone``: ``Connection: close``, a body delimited by the close, ``finish_reason`` but
  no ``data: [DONE]``.
- ``closehdr``: a chunked stream with ``Connection: close`` after which the server keeps
  the connection open without reading: a client that reused it would hang.
- any other segment: a plain content stream on a keep-alive connection.

Token ``i`` (0-based) is due at ``start + ttft + i * itl`` (absolute, so lateness never adds
up); in ``vllm`` the reasoning tokens come first and the content tokens follow on the same
schedule. ``GET /stats`` returns ``{"connections": n, "requests": n, "llama_open": n}`` (chat
requests read; ``llama`` connections whose stream ended and that are not closed yet).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import select  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from gevent.server import StreamServer  # noqa: E402

STATS = {"connections": 0, "requests": 0, "llama_open": 0}
ARGS = argparse.Namespace()

# A token table with characters split across tokens, as byte-level BPE does: "é" (2 bytes
# in 2 tokens), "°" (2 bytes, the second token also carries "C") and "🙂" (4 bytes in 2).
LLAMA_TOKENS = [
    b"Caf",
    b"\xc3",
    b"\xa9 ",
    b"at 18",
    b"\xc2",
    b"\xb0C ",
    b"\xf0\x9f",
    b"\x99\x82",
    b" ok",
]
TOOL_ARGUMENTS = '{"city": "Paris", "date": "2026-05-01"}'
SPLIT_CONTENT = "é"
"""Starts each ``split`` event's content: the event is cut inside this character."""


def _event(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _base(style: str) -> dict[str, Any]:
    return {"id": f"chatcmpl-{style}", "object": "chat.completion.chunk", "model": "quirk"}


def _delta(style: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return _event({**_base(style), "choices": [choice]})


def _piece(text: str, k: int, parts: int) -> str:
    """The k-th of ``parts`` nearly equal pieces of ``text``."""
    return text[k * len(text) // parts : (k + 1) * len(text) // parts]


def _sleep_until(t: float) -> None:
    gevent.sleep(max(0.0, t - time.perf_counter()))


def _llama_events(start: float, n: int) -> list[tuple[float, bytes]]:
    """(due time, event) of each token event: incomplete UTF-8 waits for the next token."""
    events: list[tuple[float, bytes]] = []
    pending = b""
    for i in range(n):
        pending += LLAMA_TOKENS[i % len(LLAMA_TOKENS)]
        try:
            text = pending.decode()
        except UnicodeDecodeError:
            continue  # held back: the character ends in a later token
        pending = b""
        due = start + ARGS.ttft + i * ARGS.itl
        events.append((due, _delta("llama", {"content": text})))
    if pending:  # the table's end must not leave half a character behind
        raise SystemExit("quirk_server: --tokens ends inside a character")
    return events


def _usage(n: int, timings: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        **_base("usage"),
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": n, "total_tokens": n + 9},
    }
    if timings:
        predicted_ms = (n - 1) * ARGS.itl * 1000
        body["timings"] = {
            "prompt_n": 9,
            "prompt_ms": ARGS.ttft * 1000,
            "predicted_n": n,
            "predicted_ms": predicted_ms,
            "predicted_per_token_ms": predicted_ms / max(n - 1, 1),
        }
    return body


def _stream(sock: socket.socket, style: str, start: float) -> None:
    n = ARGS.tokens
    chunked = style != "nodone"
    head = [b"HTTP/1.1 200 OK", b"Content-Type: text/event-stream", b"Cache-Control: no-cache"]
    if style == "llama":
        head += [b"Server: llama.cpp", b"X-Accel-Buffering: no", b"Keep-Alive: timeout=5, max=100"]
    if style in ("nodone", "closehdr"):
        head.append(b"Connection: close")
    if chunked:
        head.append(b"Transfer-Encoding: chunked")
    sock.sendall(b"\r\n".join(head) + b"\r\n\r\n")

    def send(data: bytes) -> None:
        sock.sendall(_chunk(data) if chunked else data)

    role: dict[str, Any] = {"role": "assistant", "content": None if style == "llama" else ""}
    send(_delta(style, role))
    due = [start + ARGS.ttft + i * ARGS.itl for i in range(n)]
    if style == "llama":
        for at, event in _llama_events(start, n):
            _sleep_until(at)
            send(event)
        send(_delta(style, {}, "length"))
    elif style == "vllm":
        while time.perf_counter() < due[0] - 0.015:
            gevent.sleep(0.01)
            send(b": ping\n\n")
        for i, at in enumerate(due):
            _sleep_until(at)
            key = "reasoning_content" if i < ARGS.reasoning else "content"
            send(_delta(style, {key: f"t{i} "}, "stop" if i == n - 1 else None))
    elif style == "tools":
        per_call = n // 2  # the first half of the tokens is call 0, the second half call 1
        for i, at in enumerate(due):
            _sleep_until(at)
            index, part = min(i // per_call, 1), i - min(i // per_call, 1) * per_call
            call: dict[str, Any] = {"index": index}
            if part == 0:
                name = ("get_weather", "create_calendar_event")[index]
                call |= {"id": f"call_{index}", "type": "function"}
                call["function"] = {"name": name, "arguments": ""}
            else:
                call["function"] = {"arguments": _piece(TOOL_ARGUMENTS, part - 1, per_call - 1)}
            send(_delta(style, {"tool_calls": [call]}))
        send(_delta(style, {}, "tool_calls"))
    elif style == "split":
        for i, at in enumerate(due):
            event = _delta(style, {"content": f"{SPLIT_CONTENT}{i}"})
            cut_utf8 = event.index(SPLIT_CONTENT.encode()) + 1
            pieces = [event[:2], event[2:cut_utf8], event[cut_utf8:-1], event[-1:]]
            for k, piece in enumerate(pieces):
                _sleep_until(at - (len(pieces) - 1 - k) * 0.003)
                send(piece)
    else:  # nodone, closehdr and plain
        for i, at in enumerate(due):
            _sleep_until(at)
            send(_delta(style, {"content": f"t{i} "}, "stop" if i == n - 1 else None))
    send(_event(_usage(n, timings=style == "llama")))
    if style != "nodone":
        send(b"data: [DONE]\n\n")
    if chunked:
        sock.sendall(b"0\r\n\r\n")


def _read_request(sock: socket.socket, buf: bytes) -> tuple[str, bytes] | None:
    """(path, bytes left over) of the next request, None when the client closed."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            return None
        rest += data
    return lines[0].split()[1], rest[length:]


def handle(sock: socket.socket, _addr: Any) -> None:
    STATS["connections"] += 1
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    try:
        while (request := _read_request(sock, buf)) is not None:
            path, buf = request
            start = time.perf_counter()
            if path == "/stats":
                body = json.dumps(STATS).encode()
                sock.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                continue
            STATS["requests"] += 1
            style = path.strip("/").split("/")[0]
            _stream(sock, style, start)
            if style == "llama":
                # Closing with the next request unread makes the kernel send a reset.
                STATS["llama_open"] += 1
                try:
                    select.select([sock], [], [], ARGS.close_wait_ms / 1000)
                finally:
                    sock.close()
                    STATS["llama_open"] -= 1
                return
            if style == "closehdr":
                gevent.sleep(2.0)
                return
            if style == "nodone":
                return
    except OSError:
        pass
    finally:
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft-ms", type=float, default=40.0)
    parser.add_argument("--itl-ms", type=float, default=10.0)
    parser.add_argument("--tokens", type=int, default=18)
    parser.add_argument("--reasoning", type=int, default=6, help="vllm: reasoning tokens first")
    parser.add_argument("--close-wait-ms", type=float, default=200.0)
    args = parser.parse_args()
    ARGS.ttft, ARGS.itl = args.ttft_ms / 1000, args.itl_ms / 1000
    ARGS.tokens, ARGS.reasoning, ARGS.close_wait_ms = (
        args.tokens,
        args.reasoning,
        args.close_wait_ms,
    )
    server = StreamServer(("127.0.0.1", args.port), handle)
    server.start()
    print(f"QI_READY http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
