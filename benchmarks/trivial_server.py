"""A keep-alive chat-completions server that answers at once: the load generator is the bottleneck.

Run: ``python benchmarks/trivial_server.py [--port 0]``; prints ``QI_READY <url>``.

``POST /v1/chat/completions`` answers OpenAI-shaped with the result of the arithmetic in the
last user message (``"What is 2 + 2?"`` -> ``"2 + 2 = 4"``), so qi-load's ``simple`` quality
check passes; other prompts get ``"OK"``. With ``"stream": true`` the whole SSE stream (a
role chunk, ``--stream-tokens`` content chunks, usage + server timing, ``[DONE]``) goes out in
one write. Answers are cached by request body, so the server's cost per request is a socket
read, a dict lookup and a socket write.
``GET /stats`` returns ``{"requests": n, "cpu_s": s}`` (chat requests served, process CPU
seconds): benchmarks count throughput at the server, the same way for every client.
``GET /ready`` and ``GET /health`` answer 200.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from gevent.server import StreamServer  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from qi_load.generate.queries import arithmetic_of  # noqa: E402

CHAT_PATH = b"/v1/chat/completions"
MAX_CACHED = 4096
MAX_HEADER_BYTES = 64 * 1024
SERVED = [0]
STREAM_TOKENS = [20]
_CACHE: dict[bytes, bytes] = {}


def _response(status: str, body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        status.encode(),
        len(body),
        extra,
        body,
    )


def answer_text(prompt: str) -> str:
    found = arithmetic_of(prompt)
    if found is None:
        return "OK"
    expression, value = found
    return f"{expression} = {value:g}"


def chat_response(body: bytes) -> bytes:
    """The full HTTP response to one chat request body (400 for a body that is not a chat)."""
    cached = _CACHE.get(body)
    if cached is not None:
        return cached
    try:
        request = json.loads(body)
        messages: list[dict[str, Any]] = request["messages"]
        prompt = next(
            (str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), ""
        )
        model = str(request.get("model", "trivial"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        error = json.dumps({"error": {"message": f"bad chat request: {exc}"}}).encode()
        return _response("400 Bad Request", error)
    content = answer_text(prompt)
    if request.get("stream"):
        response = _stream_response(model, prompt, content)
    else:
        response = _json_response(model, prompt, content)
    if len(_CACHE) < MAX_CACHED:
        _CACHE[body] = response
    return response


def _usage(prompt: str, tokens: int) -> dict[str, int]:
    words = len(prompt.split())
    return {"prompt_tokens": words, "completion_tokens": tokens, "total_tokens": words + tokens}


def _json_response(model: str, prompt: str, content: str) -> bytes:
    completion = {
        "id": "chatcmpl-trivial",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(prompt, len(content.split())),
    }
    payload = json.dumps(completion, separators=(",", ":")).encode()
    # The reference agent's contract: phases in a Server-Timing header (all ~0 here).
    timing = b"Server-Timing: request;dur=0.01, tool;dur=0, llm;dur=0, format;dur=0\r\n"
    return _response("200 OK", payload, timing)


def _stream_response(model: str, prompt: str, content: str) -> bytes:
    """The whole SSE stream in one body: a role chunk, one chunk per token, usage, [DONE]."""
    tokens = list(content)  # one character per token: enough events to parse
    tokens += [" ."] * max(0, STREAM_TOKENS[0] - len(tokens))

    def chunk(delta: dict[str, Any], **extra: Any) -> bytes:
        obj = {
            "id": "chatcmpl-trivial",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}] if delta else [],
            **extra,
        }
        return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"

    timing = {"request": 0.01, "tool": 0.0, "llm": 0.0, "format": 0.0}
    events = [chunk({"role": "assistant"})]
    events += [chunk({"content": token}) for token in tokens]
    events.append(chunk({}, usage=_usage(prompt, len(tokens)), server_timing=timing))
    events.append(b"data: [DONE]\n\n")
    body = b"".join(events)
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


def _handle(sock: socket.socket, _address: Any) -> None:
    buffer = b""
    try:
        while True:
            while b"\r\n\r\n" not in buffer:
                data = sock.recv(65536)
                if not data or len(buffer) > MAX_HEADER_BYTES:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            request_line, _, headers = head.partition(b"\r\n")
            method, _, rest = request_line.partition(b" ")
            path = rest.partition(b" ")[0]
            length = 0
            lowered = headers.lower()
            at = lowered.find(b"content-length:")
            if at >= 0:
                end = lowered.find(b"\r\n", at)
                length = int(lowered[at + 15 : end if end >= 0 else None])
            while len(buffer) < length:
                data = sock.recv(65536)
                if not data:
                    return
                buffer += data
            body, buffer = buffer[:length], buffer[length:]
            if method == b"POST" and path == CHAT_PATH:
                SERVED[0] += 1
                sock.sendall(chat_response(body))
            elif method == b"GET" and path == b"/stats":
                times = os.times()
                stats = {"requests": SERVED[0], "cpu_s": times.user + times.system}
                sock.sendall(_response("200 OK", json.dumps(stats).encode()))
            elif method == b"GET" and path in (b"/ready", b"/health"):
                sock.sendall(_response("200 OK", b'{"status":"ok"}'))
            else:
                sock.sendall(_response("404 Not Found", b'{"error":{"message":"not found"}}'))
    except (ConnectionError, OSError, ValueError):
        return
    finally:
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    parser.add_argument(
        "--stream-tokens",
        type=int,
        default=STREAM_TOKENS[0],
        help="content events of a streamed answer (padded with ' .'; default %(default)s)",
    )
    args = parser.parse_args()
    STREAM_TOKENS[0] = max(1, args.stream_tokens)
    server = StreamServer((args.host, args.port), _handle, backlog=1024)
    server.init_socket()
    print(f"QI_READY http://{args.host}:{server.server_port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
