"""`POST /v1/chat/completions` as a raw ASGI app: exact token timing, SSE and injected faults."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from qi_load.agent.classify import classify
from qi_load.agent.connection import abort_connection, arrival_time
from qi_load.agent.faults import RequestFaults
from qi_load.agent.llm import QueueFull, sleep_until, token_offsets
from qi_load.agent.request import BadRequest, ChatRequest, parse_chat_request
from qi_load.agent.service import Service
from qi_load.agent.tokens import count_tokens, fit_tokens
from qi_load.agent.tracing import RequestSpans, unix_ns_of
from qi_load.agent.wire import (
    AGENT_HEADER,
    DONE,
    REFERENCE_AGENT,
    ChunkWriter,
    completion_body,
    error_body,
    server_timing_header,
)
from qi_load.vocabulary import QueryType

__all__ = ["ChatCompletions"]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ABORTED: Final = 0
"""Status of a request whose connection we cut on purpose (no HTTP status was sent)."""
CLIENT_GONE: Final = 499
_DRAIN_LIMIT: Final = 64 * 1024 * 1024
_STALL_S: Final = 300.0
_HTML_500: Final = (
    b"<html><head><title>500 Internal Server Error</title></head><body>"
    b"<h1>Internal Server Error</h1><p>upstream failed (injected fault)</p></body></html>"
)
_AGENT: Final = (AGENT_HEADER.encode(), REFERENCE_AGENT.encode())
_BROKEN_EVENT: Final = b'data: {"id":"broken","choices":[{"delta":{"content": oops}\n\n'


class _TooLarge(Exception):
    pass


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body; _TooLarge once it exceeds `limit` (the rest is read and dropped so
    the client can finish sending and read our 413)."""
    declared = dict(scope["headers"]).get(b"content-length")
    too_large = declared is not None and declared.isdigit() and int(declared) > limit
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("client disconnected while sending")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            too_large = True
        if not too_large:
            chunks.append(chunk)
        if not message.get("more_body", False) or size > _DRAIN_LIMIT:
            break
    if too_large:
        raise _TooLarge
    return b"".join(chunks)


async def _send_bytes(
    send: Send, status: int, body: bytes, content_type: str, headers: list[tuple[str, str]]
) -> None:
    raw = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        _AGENT,
        *((name.encode(), value.encode()) for name, value in headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_error(
    send: Send,
    status: int,
    message: str,
    error_type: str,
    code: str,
    param: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> None:
    """An OpenAI-shaped JSON error response."""
    body = error_body(message, error_type, code, param)
    await _send_bytes(send, status, body, "application/json", headers or [])


async def _abort(scope: Scope, *, reset: bool) -> int:
    abort_connection(scope, reset=reset)
    # Let the transport report the loss before we return, so uvicorn sees a disconnected
    # client rather than an app that forgot to finish its response.
    await asyncio.sleep(0)
    return ABORTED


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


@dataclass
class _Clock:
    """Server-side phase accounting of one request, in event-loop seconds."""

    arrival: float
    slot: float = 0.0
    admitted: float = 0.0
    tool_ms: float = 0.0
    format_s: float = 0.0
    first_token: float | None = None
    tool_calls: list[tuple[str, float]] = field(default_factory=list)
    output_tokens: int = 0
    # Counting a long prompt costs milliseconds: the usage and the span share one count.
    input_tokens: int | None = None
    # The phases as sent to the client and when: an instrumented agent's spans reuse them.
    reported: tuple[float, dict[str, float]] | None = None

    def prompt_tokens(self, request: ChatRequest) -> int:
        """The request's input tokens, counted on first use."""
        if self.input_tokens is None:
            self.input_tokens = count_tokens(message.text for message in request.messages)
        return self.input_tokens

    @contextlib.contextmanager
    def formatting(self) -> Any:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.format_s += time.perf_counter() - started

    def phases(self, now: float) -> dict[str, float]:
        """request (parse, classify, queue) + tool + llm + format = server time so far."""
        request_ms = (max(self.slot, self.admitted) - self.arrival) * 1000.0
        format_ms = self.format_s * 1000.0
        total_ms = (now - self.arrival) * 1000.0
        llm_ms = max(0.0, total_ms - request_ms - self.tool_ms - format_ms)
        phases = {
            "request": round(request_ms, 3),
            "tool": round(self.tool_ms, 3),
            "llm": round(llm_ms, 3),
            "format": round(format_ms, 3),
        }
        self.reported = (now, phases)
        return phases


@dataclass
class _Disconnect:
    """Watches `receive` for the client going away, so a dead stream frees its slot."""

    receive: Receive
    event: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        self.event.set()

    def stop(self) -> None:
        # Let go of the task first: its CancelledError's traceback holds _watch's frame, which
        # holds self, and self -> task would close a reference cycle per request (garbage for
        # the cyclic collector, whose pauses delay every stream's tokens).
        task, self.task = self.task, None
        if task is not None:
            task.cancel()

    @property
    def gone(self) -> bool:
        return self.event.is_set()


class ChatCompletions:
    """The ASGI endpoint; one instance per app, all state in `Service`."""

    def __init__(self, service: Service) -> None:
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        clock = _Clock(arrival=arrival_time(scope, loop.time()))
        metrics = self.service.metrics
        try:
            body = await _read_body(scope, receive, self.service.config.max_body_bytes)
            request = parse_chat_request(body)
        except ConnectionError:
            return
        except _TooLarge:
            limit = self.service.config.max_body_bytes
            metrics.requests.labels("invalid", "413").inc()
            await send_error(
                send,
                413,
                f"request body exceeds {limit} bytes",
                "invalid_request_error",
                "request_too_large",
            )
            return
        except BadRequest as exc:
            metrics.requests.labels("invalid", "400").inc()
            await send_error(send, 400, str(exc), "invalid_request_error", exc.code, exc.param)
            return
        query_type = classify(request.last_user_text, request.metadata.query_type)
        faults = self.service.faults.draw(request.metadata.fault)
        service = self.service
        if service.cache is not None:
            service.cache.add()
        if service.compute is not None:
            service.compute.enter()
        metrics.in_flight.inc()
        status = 200
        try:
            status = await self._serve(scope, receive, send, request, query_type, faults, clock)
        finally:
            metrics.in_flight.dec()
            if service.compute is not None:
                service.compute.leave()
            label = "aborted" if status == ABORTED else str(status)
            metrics.requests.labels(query_type, label).inc()
            metrics.duration.labels(query_type, label).observe(loop.time() - clock.arrival)
            if faults.kind is not None:
                metrics.faults.labels(faults.kind).inc()
            if service.tracer is not None and clock.reported is not None:
                self._trace(scope, request, query_type, clock, ok=status == 200)

    def _trace(
        self, scope: Scope, request: ChatRequest, query_type: QueryType, clock: _Clock, *, ok: bool
    ) -> None:
        assert self.service.tracer is not None and clock.reported is not None
        reported_at, phases = clock.reported
        self.service.tracer.record(
            RequestSpans(
                traceparent=_header(scope, b"traceparent"),
                query_type=query_type,
                model=request.model,
                end_ns=unix_ns_of(reported_at, asyncio.get_running_loop().time()),
                phases_ms=phases,
                tool_calls=clock.tool_calls,
                input_tokens=clock.prompt_tokens(request),
                output_tokens=clock.output_tokens,
                ok=ok,
            )
        )

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request: ChatRequest,
        query_type: QueryType,
        faults: RequestFaults,
        clock: _Clock,
    ) -> int:
        service = self.service
        if faults.kind == "http_500":
            await send_error(send, 500, "injected server error", "server_error", "injected_fault")
            return 500
        if faults.kind == "http_500_html":
            await _send_bytes(send, 500, _HTML_500, "text/html; charset=utf-8", [])
            return 500
        try:
            waited = await service.pool.acquire()
        except QueueFull:
            await send_error(
                send,
                429,
                f"all {service.config.slots} slots busy and "
                f"{service.config.queue_limit} requests queued",
                "rate_limit_error",
                "rate_limit_exceeded",
                headers=[("retry-after", "1")],
            )
            return 429
        finally:
            service.update_gauges()
        disconnect = _Disconnect(receive)
        disconnect.start()
        try:
            # The model starts when the request arrived, or when a slot freed up for it.
            clock.admitted = asyncio.get_running_loop().time()
            clock.slot = clock.admitted if waited else clock.arrival
            if request.stream:
                return await self._stream(
                    scope, send, request, query_type, faults, clock, disconnect
                )
            return await self._complete(scope, send, request, query_type, faults, clock, disconnect)
        finally:
            disconnect.stop()
            service.pool.release()
            service.update_gauges()

    async def _plan(
        self, request: ChatRequest, query_type: QueryType, faults: RequestFaults, clock: _Clock
    ) -> tuple[list[str], list[float], str, list[str]]:
        """Do the agent's work, then fit its answer to the type's token count and schedule."""
        service = self.service
        answer = await service.agent.answer(query_type, request.last_user_text)
        clock.tool_ms = answer.tool_ms
        clock.tool_calls = answer.tool_calls
        timing = service.config.timing(query_type)
        tokens = fit_tokens(answer.text, timing.output_tokens)
        finish_reason = "stop"
        limit = request.token_limit
        if limit is not None and limit < len(tokens):
            tokens, finish_reason = tokens[:limit], "length"
        clock.output_tokens = len(tokens)
        offsets = token_offsets(
            timing.ttft_ms,
            timing.itl_ms,
            len(tokens),
            jitter=service.config.jitter,
            rng=service.rng,
            extra_ttft_ms=faults.spike_ms,
        )
        return tokens, offsets, finish_reason, answer.tools

    def _usage(self, request: ChatRequest, clock: _Clock, completion_tokens: int) -> dict[str, int]:
        prompt = clock.prompt_tokens(request)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
        }

    def _extension(self, query_type: QueryType, tools: list[str]) -> dict[str, Any]:
        return {"qi_agent": {"query_type": query_type, "tools": tools}}

    async def _stall(self, disconnect: _Disconnect) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(disconnect.event.wait(), _STALL_S)

    async def _stream(
        self,
        scope: Scope,
        send: Send,
        request: ChatRequest,
        query_type: QueryType,
        faults: RequestFaults,
        clock: _Clock,
        disconnect: _Disconnect,
    ) -> int:
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        writer = ChunkWriter(completion_id, int(time.time()), request.model, request.include_usage)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-qi-query-type", query_type.encode()),
                    _AGENT,
                ],
            }
        )
        with clock.formatting():
            await send({"type": "http.response.body", "body": writer.role(), "more_body": True})
        tokens, offsets, finish_reason, tools = await self._plan(request, query_type, faults, clock)
        with clock.formatting():
            # Serialized while the first token is still due, so a tick of many lockstep
            # streams only has to write.
            events = [writer.content(token) for token in tokens]
        fault_at = len(tokens) // 2
        last = len(events) - 1
        for index, event in enumerate(events):
            await sleep_until(clock.slot + offsets[index])
            if disconnect.gone:
                return CLIENT_GONE
            if index == fault_at and faults.kind in ("reset", "cut_mid_event", "stall"):
                return await self._break_stream(scope, send, faults, event, disconnect)
            if index == fault_at and faults.kind == "invalid_json":
                await send({"type": "http.response.body", "body": _BROKEN_EVENT, "more_body": True})
            with clock.formatting():
                if index == last:
                    # The last token and the closing events leave in one write: one send
                    # fewer per stream when many streams end in the same tick.
                    event += self._tail(
                        request, writer, clock, finish_reason, query_type, tools, len(events)
                    )
                    if faults.kind == "missing_done":
                        event = event.removesuffix(DONE)
                await send({"type": "http.response.body", "body": event, "more_body": index < last})
            if clock.first_token is None:
                clock.first_token = asyncio.get_running_loop().time()
                self.service.metrics.ttft.labels(query_type).observe(
                    clock.first_token - clock.arrival
                )
        return 200

    def _tail(
        self,
        request: ChatRequest,
        writer: ChunkWriter,
        clock: _Clock,
        finish_reason: str,
        query_type: QueryType,
        tools: list[str],
        completion_tokens: int,
    ) -> bytes:
        """Final chunk, usage chunk if asked, `[DONE]`; the last chunk carries the phases."""
        extra = {
            "server_timing": clock.phases(asyncio.get_running_loop().time()),
            **self._extension(query_type, tools),
        }
        usage = self._usage(request, clock, completion_tokens)
        if request.include_usage:
            tail = writer.finish(finish_reason) + writer.usage(usage, extra)
        else:
            tail = writer.finish(finish_reason, extra)
        return tail + DONE

    async def _break_stream(
        self,
        scope: Scope,
        send: Send,
        faults: RequestFaults,
        event: bytes,
        disconnect: _Disconnect,
    ) -> int:
        if faults.kind == "stall":
            await self._stall(disconnect)
            return CLIENT_GONE if disconnect.gone else ABORTED
        if faults.kind == "cut_mid_event":
            await send(
                {"type": "http.response.body", "body": event[: len(event) // 2], "more_body": True}
            )
        return await _abort(scope, reset=faults.kind == "reset")

    async def _complete(
        self,
        scope: Scope,
        send: Send,
        request: ChatRequest,
        query_type: QueryType,
        faults: RequestFaults,
        clock: _Clock,
        disconnect: _Disconnect,
    ) -> int:
        tokens, offsets, finish_reason, tools = await self._plan(request, query_type, faults, clock)
        if faults.kind in ("reset", "stall", "cut_mid_event"):
            await sleep_until(clock.slot + offsets[len(tokens) // 2])
            if faults.kind == "stall":
                await self._stall(disconnect)
                return CLIENT_GONE if disconnect.gone else ABORTED
        await sleep_until(clock.slot + offsets[-1])
        if disconnect.gone:
            return CLIENT_GONE
        with clock.formatting():
            body = completion_body(
                completion_id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
                created=int(time.time()),
                model=request.model,
                content="".join(tokens),
                finish_reason=finish_reason,
                usage=self._usage(request, clock, len(tokens)),
                extra=self._extension(query_type, tools),
            )
            if faults.kind == "invalid_json":
                body = body[: len(body) // 2]
        phases = clock.phases(asyncio.get_running_loop().time())
        headers = [("server-timing", server_timing_header(phases)), ("x-qi-query-type", query_type)]
        if faults.kind in ("reset", "cut_mid_event"):
            if faults.kind == "cut_mid_event":
                raw_headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": raw_headers})
                await send(
                    {
                        "type": "http.response.body",
                        "body": body[: len(body) // 2],
                        "more_body": True,
                    }
                )
            return await _abort(scope, reset=faults.kind == "reset")
        await _send_bytes(send, 200, body, "application/json", headers)
        return 200
