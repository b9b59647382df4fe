"""OpenAI-compatible chat client with exact streaming timestamps, built for gevent (Locust)."""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import gevent
from geventhttpclient.response import (
    HTTPConnectionClosed,
    HTTPSocketPoolResponse,
)
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from qi_load import __version__
from qi_load.agent.wire import AGENT_HEADER, REFERENCE_AGENT
from qi_load.errors import QiLoadError
from qi_load.generate.chat_wire import (
    CONTENT,
    Answer,
    parse_server_timing,
    take_body,
    take_chunk,
    token_count,
)
from qi_load.generate.limits import MAX_BODY_BYTES, MAX_ERROR_BODY_BYTES, MAX_STREAM_BYTES
from qi_load.generate.options import LoadOptions
from qi_load.generate.sse import SseDecoder, SseError
from qi_load.generate.transport import (
    Connection,
    Fault,
    exchange,
    read_available,
    read_capped,
    server_text,
)
from qi_load.record.wall_clock import wall_now
from qi_load.trace.context import RequestTrace
from qi_load.vocabulary import ErrorKind

__all__ = [
    "API_KEY_ENV",
    "ChatClient",
    "ChatConfig",
    "ChatResult",
    "api_key",
    "api_key_source",
]

API_KEY_ENV: Final = ("QI_LOAD_API_KEY", "OPENAI_API_KEY")
_ERROR_BODY_CHARS: Final = 300
_BLOCK_SIZE: Final = 64 * 1024


class ChatConfig(BaseModel):
    """How to reach an OpenAI-compatible ``/chat/completions`` endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(
        description="Server root, e.g. http://127.0.0.1:8000 (Locust's host); an OpenAI-style "
        "URL ending in /v1 works too."
    )
    model: str = Field(default="qi-agent", description="Model name sent in every request.")
    chat_path: str = Field(
        default="/v1/chat/completions",
        description="Path of the chat endpoint, appended to base_url.",
    )
    api_key_env: tuple[str, ...] = Field(
        default=API_KEY_ENV, description="Environment variables searched in order for a Bearer key."
    )
    api_key: SecretStr | None = Field(
        default=None,
        exclude=True,
        repr=False,
        description="Explicit key (overrides api_key_env); never serialized.",
    )
    extra_headers: dict[str, str] = Field(
        default_factory=dict, description="Headers added to every request."
    )
    # The timeouts' defaults are the options' (--connect-timeout, ...): one set everywhere.
    connect_timeout: float = Field(
        default=LoadOptions.model_fields["connect_timeout"].default,
        gt=0,
        description="Seconds to open a TCP connection.",
    )
    first_byte_timeout: float = Field(
        default=LoadOptions.model_fields["first_byte_timeout"].default,
        gt=0,
        description="Seconds from sending to the response headers.",
    )
    total_timeout: float = Field(
        default=LoadOptions.model_fields["request_timeout"].default,
        gt=0,
        description="Seconds from sending to the end of the response body.",
    )
    stream: bool = Field(default=True, description="Ask for a streamed (SSE) answer.")
    include_usage: bool = Field(
        default=True,
        description="Ask for stream_options.include_usage (token counts from the server).",
    )
    send_query_type: bool = Field(
        default=True,
        description="Send metadata.query_type (the reference agent uses it; turn off for "
        "servers that reject unknown metadata).",
    )
    max_tokens: int | None = Field(default=None, gt=0, description="max_tokens sent when set.")
    trace_context: bool = Field(
        default=True,
        description="Send a W3C traceparent (a new sampled trace per request) and baggage, so "
        "the agent's own spans join this request by its trace id.",
    )


@dataclass(slots=True)
class ChatResult:
    """One request as measured: perf_counter timestamps (s) and what the answer held."""

    t_sched: float | None = None
    t_send: float | None = None
    t_first: float | None = None
    t_first_content: float | None = None
    t_last: float | None = None
    t_done: float | None = None
    wall_send: float = 0.0
    ok: bool = False
    error_kind: ErrorKind = "none"
    error: str = ""
    status_code: int = 0
    content_type: str = ""
    content: str = ""
    reasoning: str = ""
    tool_calls: int = 0
    output_tokens: int | None = None
    input_tokens: int | None = None
    tokens_source: str = ""
    token_events: int = 0
    itl_ms: list[float] = field(default_factory=list)
    server_phases: dict[str, float] = field(default_factory=dict)
    bytes: int = 0
    retries: int = 0
    trace_id: str = ""
    agent: str = ""
    """The server's ``x-qi-load-agent`` header (``reference`` from qi-load's reference agent)."""

    @property
    def from_reference_agent(self) -> bool:
        """The response says it came from qi-load's reference agent."""
        return self.agent == REFERENCE_AGENT

    @property
    def ttft_ms(self) -> float | None:
        """First token-bearing event minus send (None if no token arrived)."""
        return _ms(self.t_send, self.t_first)

    @property
    def ttfc_ms(self) -> float | None:
        """First event with answer content minus send (reasoning and tool calls come before)."""
        return _ms(self.t_send, self.t_first_content)

    @property
    def ttft_sched_ms(self) -> float | None:
        """First token minus the intended start: includes any schedule delay (open loop)."""
        return _ms(self.t_sched, self.t_first)

    @property
    def e2e_ms(self) -> float | None:
        return _ms(self.t_send, self.t_done)

    @property
    def tpot_ms(self) -> float | None:
        """(t_last - t_first) / (N - 1); None below two tokens or without a stream."""
        span = _ms(self.t_first, self.t_last)
        n = self.output_tokens
        if span is None or n is None or n < 2 or self.token_events < 2:
            return None
        return span / (n - 1)

    @property
    def itl_p50_ms(self) -> float | None:
        if not self.itl_ms:
            return None
        ordered = sorted(self.itl_ms)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    @property
    def itl_max_ms(self) -> float | None:
        return max(self.itl_ms) if self.itl_ms else None


def _ms(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start) * 1000.0


class ChatClient:
    """One keep-alive connection per client (use one per Locust user); never raises for faults."""

    def __init__(self, config: ChatConfig, *, clock: Callable[[], float] = wall_now) -> None:
        """``clock`` reads the wall time each request is sent at (``ChatResult.wall_send``)."""
        self.config = config
        self._clock = clock
        parts = urlsplit(config.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise QiLoadError(f"base_url: expected http(s)://host[:port], got {config.base_url!r}")
        prefix = parts.path.rstrip("/")
        if prefix.endswith("/v1") and config.chat_path.startswith("/v1/"):
            # An OpenAI-style base URL (".../v1") already holds the version segment.
            prefix = prefix[: -len("/v1")]
        self._path = prefix + config.chat_path
        # The endpoint as messages name it: credentials in the URL stay out.
        self.url = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{self._path}"
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"qi-load/{__version__}",
            **config.extra_headers,
        }
        key = api_key(config)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._headers = headers
        self._conn = Connection(
            parts,
            connect_timeout=config.connect_timeout,
            network_timeout=config.total_timeout,
            block_size=_BLOCK_SIZE,
        )

    def close(self) -> None:
        """Close the keep-alive connection (call when the user stops)."""
        self._conn.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        query_type: str | None = None,
        metadata: dict[str, Any] | None = None,
        t_sched: float | None = None,
        baggage: Mapping[str, object] | None = None,
    ) -> ChatResult:
        """Send one chat request and measure it; faults come back as ``ok=False`` results.

        ``baggage`` (run, stage, user…) rides in the W3C ``baggage`` header with the trace.
        """
        cfg = self.config
        body: dict[str, Any] = {"model": cfg.model, "messages": messages, "stream": cfg.stream}
        if cfg.stream and cfg.include_usage:
            body["stream_options"] = {"include_usage": True}
        if cfg.max_tokens is not None:
            body["max_tokens"] = cfg.max_tokens
        meta = {"query_type": query_type} if query_type and cfg.send_query_type else {}
        meta.update(metadata or {})
        if meta:
            body["metadata"] = meta
        payload = _encode_json(body).encode()
        result = ChatResult()
        headers = self._headers
        if cfg.trace_context:
            trace = RequestTrace.new()
            headers = {**headers, **trace.headers(baggage)}
            result.trace_id = trace.trace_id
        # New timers per request: a re-armed gevent.Timeout kept its first deadline (gevent 26.9).
        total = gevent.Timeout(cfg.total_timeout)
        first = gevent.Timeout(cfg.first_byte_timeout)
        result.wall_send = self._clock()
        result.t_send = time.perf_counter()
        result.t_sched = result.t_send if t_sched is None else t_sched
        total.start()
        with exchange(self._conn, result, total) as current:
            try:
                first.start()
                try:
                    current.response = response = self._send(payload, headers, result)
                finally:
                    first.close()
                self._conn.probe.headers_read()
                self._read(response, result)
                # A body left unread (an error body cut at its cap) must not be reused.
                current.clean = response.message_complete
            except gevent.Timeout as exc:
                if exc is total:
                    result.error_kind = "timeout"
                    result.error = f"total timeout {cfg.total_timeout}s"
                elif exc is first and not self._conn.probe.connected:
                    result.error_kind = "connect"
                    result.error = f"not connected within {cfg.first_byte_timeout}s"
                elif exc is first:
                    result.error_kind = "timeout"
                    result.error = f"no response headers within {cfg.first_byte_timeout}s"
                else:
                    raise
        return result

    def _send(
        self, payload: bytes, headers: dict[str, str], result: ChatResult
    ) -> HTTPSocketPoolResponse:
        """Send and read the response headers, retrying once on a fresh connection when a
        kept-alive one turns out dead before any response byte (the server closed it idle,
        as llama-server does after every stream although it advertises keep-alive).

        The server never saw such a request, so curl and urllib3 resend it too. The first
        attempt's ``t_send`` stays: the retry's cost is part of the measured latency.
        """
        try:
            return self._conn.http.request("POST", self._path, body=payload, headers=headers)
        except HTTPConnectionClosed:
            # Raised by request() only when not one byte of a response came (a send that
            # hit a reset or broken pipe reads on and raises it too); a reset after part of
            # the status line or headers is a plain OSError or parse error, never resent.
            if not self._conn.probe.reused:
                raise
        result.retries += 1
        self._conn.discard(None)
        return self._conn.http.request("POST", self._path, body=payload, headers=headers)

    # -- reading ---------------------------------------------------------------------------

    def _read(self, response: HTTPSocketPoolResponse, result: ChatResult) -> None:
        """Read the whole response into ``result`` (the connection stays reusable)."""
        result.status_code = response.status_code
        result.content_type = str(response.get("content-type", ""))
        result.agent = str(response.get(AGENT_HEADER, ""))
        if response.status_code >= 400:
            raw, _whole = read_capped(response, MAX_ERROR_BODY_BYTES)
            result.t_done = time.perf_counter()
            result.bytes = len(raw)
            text = raw.decode("utf-8", "replace")
            result.error_kind = "http"
            result.error = f"HTTP {response.status_code}: {server_text(text, _ERROR_BODY_CHARS)}"
            return
        if result.content_type.lower().startswith("text/event-stream"):
            answer = self._read_stream(response, result)
        elif self.config.stream:
            raise Fault(
                "protocol",
                f"asked for an event stream, got content-type {result.content_type[:80]!r} "
                "(a server that does not stream needs --no-stream)",
            )
        else:
            answer = self._read_json(response, result)
        result.content = "".join(answer.content)
        result.reasoning = "".join(answer.reasoning)
        result.tool_calls = len(answer.tool_ids)
        usage = answer.usage or {}
        completion = token_count(usage, "completion_tokens")
        result.input_tokens = token_count(usage, "prompt_tokens")
        if completion is not None:
            result.output_tokens, result.tokens_source = completion, "usage"
        else:
            result.output_tokens, result.tokens_source = result.token_events, "events"
        n, events = result.output_tokens, result.token_events
        if result.itl_ms and n > events > 0:
            # Events carrying several tokens: spread each gap over the mean tokens per event.
            scale = events / n
            result.itl_ms = [gap * scale for gap in result.itl_ms]

    def _read_stream(self, response: HTTPSocketPoolResponse, result: ChatResult) -> Answer:
        answer = Answer()
        decoder = SseDecoder(strict=True)
        token_times: list[float] = []
        try:
            while True:
                chunk = read_available(response)
                if not chunk:
                    break
                now = time.perf_counter()
                result.bytes += len(chunk)
                if result.bytes > MAX_STREAM_BYTES:
                    raise Fault("protocol", f"event stream longer than {MAX_STREAM_BYTES} bytes")
                try:
                    events = decoder.feed(chunk)
                except SseError as exc:
                    raise Fault("protocol", str(exc)) from None
                for event in events:
                    if answer.done:
                        continue
                    if event.data == "[DONE]":
                        answer.done = True
                        continue
                    carried = take_chunk(event.data, answer, result.server_phases)
                    if carried:
                        token_times.append(now)
                        if carried & CONTENT and result.t_first_content is None:
                            result.t_first_content = now
            result.t_done = time.perf_counter()
        finally:
            # Also on a fault: a stream cut after its first token still has a TTFT.
            if token_times:
                result.t_first, result.t_last = token_times[0], token_times[-1]
                result.itl_ms = [(b - a) * 1000.0 for a, b in itertools.pairwise(token_times)]
            result.token_events = len(token_times)
        mid_event = decoder.close()
        if not answer.done:
            if mid_event:
                raise Fault("protocol", "stream ended in the middle of an event")
            if not answer.finished:
                # A body that ended cleanly after a finish_reason is a whole answer (the
                # OpenAI SDKs accept it too); without either it may have been cut short.
                raise Fault("protocol", "stream ended without data: [DONE] or a finish_reason")
        return answer

    def _read_json(self, response: HTTPSocketPoolResponse, result: ChatResult) -> Answer:
        raw, whole = read_capped(response, MAX_BODY_BYTES)
        result.t_done = time.perf_counter()
        result.bytes = len(raw)
        if not whole:
            raise Fault("protocol", f"JSON body longer than {MAX_BODY_BYTES} bytes")
        header = response.get("server-timing")
        if header:
            result.server_phases.update(parse_server_timing(str(header)))
        answer = take_body(raw)
        if answer.content or answer.reasoning or answer.tool_ids:
            # The whole answer becomes visible at once: first token = last token = done.
            result.t_first = result.t_last = result.t_done
            result.token_events = 1
        if answer.content:
            result.t_first_content = result.t_done
        return answer


def api_key(config: ChatConfig) -> str | None:
    """The Bearer key sent with every request, if any (never log it)."""
    source = api_key_source(config)
    if source == "api_key" and config.api_key is not None:
        return config.api_key.get_secret_value()
    return os.environ.get(source) if source else None


def api_key_source(config: ChatConfig) -> str:
    """Where the Bearer key comes from: ``api_key``, an environment variable's name, or ""."""
    if config.api_key is not None:
        return "api_key"
    return next((name for name in config.api_key_env if os.environ.get(name)), "")


# One encoder for all requests: json.dumps with separators builds a new one per call.
_encode_json = json.JSONEncoder(separators=(",", ":")).encode
