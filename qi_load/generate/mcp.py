"""gevent-native MCP client (JSON-RPC over streamable HTTP) that times each call."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import gevent
from geventhttpclient.response import HTTPParseError, HTTPSocketPoolResponse

from qi_load import __version__
from qi_load.errors import QiLoadError
from qi_load.generate.limits import MAX_BODY_BYTES, MAX_ERROR_BODY_BYTES, MAX_STREAM_BYTES
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

__all__ = ["PROTOCOL_VERSION", "McpClient", "McpResult"]

PROTOCOL_VERSION: Final = "2025-11-25"
"""The revision offered in ``initialize`` (the newest one reached by that handshake)."""
_SESSION_HEADER: Final = "mcp-session-id"
_VERSION_HEADER: Final = "mcp-protocol-version"
_ERROR_BODY_CHARS: Final = 300


@dataclass(slots=True)
class McpResult:
    """One JSON-RPC exchange as measured (perf_counter seconds) and its ``result`` object."""

    method: str
    ok: bool = False
    error_kind: ErrorKind = "none"
    error: str = ""
    status_code: int = 0
    wall_send: float = 0.0
    t_send: float | None = None
    t_done: float | None = None
    result: dict[str, Any] | None = None
    bytes: int = 0
    trace_id: str = ""

    @property
    def text(self) -> str:
        """The text parts of a ``tools/call`` result ("" otherwise)."""
        return _text_of(self.result) if self.result is not None else ""

    @property
    def tool_names(self) -> list[str]:
        """The names a ``tools/list`` result lists (those that are strings)."""
        tools = self.result.get("tools") if self.result is not None else None
        if type(tools) is not list:
            return []
        return [t["name"] for t in tools if type(t) is dict and type(t.get("name")) is str]

    @property
    def latency_ms(self) -> float | None:
        """Send to the arrival of the JSON-RPC response."""
        if self.t_send is None or self.t_done is None:
            return None
        return (self.t_done - self.t_send) * 1000.0


class McpClient:
    """One MCP session over one keep-alive connection; methods never raise for faults."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 5.0,
        total_timeout: float = 30.0,
        headers: dict[str, str] | None = None,
        trace_context: bool = True,
        clock: Callable[[], float] = wall_now,
    ) -> None:
        """``clock`` reads the wall time each call is sent at (``McpResult.wall_send``)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise QiLoadError(f"MCP url: expected http(s)://host[:port]/path, got {url!r}")
        self._path = parts.path or "/"
        self._total_timeout = total_timeout
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "User-Agent": f"qi-load/{__version__}",
            **(headers or {}),
        }
        self._ids = itertools.count(1)
        self._trace_context = trace_context
        self._clock = clock
        # Set by the caller before a call: rides in the W3C baggage header with each trace.
        self.baggage: dict[str, object] = {}
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self._conn = Connection(
            parts, connect_timeout=connect_timeout, network_timeout=total_timeout
        )

    def initialize(self) -> McpResult:
        """``initialize`` (timed), then the ``notifications/initialized`` it requires."""
        self.session_id = self.protocol_version = None
        params = {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "qi-load", "version": __version__},
        }
        result = self._call("initialize", params)
        if not result.ok or result.result is None:
            return result
        version = result.result.get("protocolVersion")
        self.protocol_version = version if isinstance(version, str) else PROTOCOL_VERSION
        notified = self._call("notifications/initialized", None, notification=True)
        if not notified.ok:
            result.ok, result.error_kind = False, notified.error_kind
            result.error = f"notifications/initialized: {notified.error}"
        return result

    def list_tools(self) -> McpResult:
        """``tools/list``: ``result["tools"]`` lists the tools (a list of objects)."""
        result = self._call("tools/list", {})
        if result.ok and result.result is not None:
            tools = result.result.get("tools")
            if type(tools) is not list or any(type(tool) is not dict for tool in tools):
                result.ok, result.error_kind = False, "protocol"
                result.error = "tools/list: result.tools is not a list of objects"
        return result

    def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> McpResult:
        """``tools/call``; a result with ``isError`` is a failed call."""
        result = self._call("tools/call", {"name": name, "arguments": arguments or {}})
        if result.ok and result.result is not None and result.result.get("isError"):
            result.ok, result.error_kind = False, "protocol"
            result.error = f"tool {name} failed: {server_text(_text_of(result.result))}"
        return result

    def close(self) -> None:
        """End the session (DELETE, best effort) and close the connection."""
        if self.session_id is not None:
            try:
                with gevent.Timeout(self._total_timeout):
                    response = self._conn.http.request(
                        "DELETE", self._path, headers=self._session_headers()
                    )
                    read_capped(response, MAX_ERROR_BODY_BYTES)
            except (gevent.Timeout, HTTPParseError, OSError, ValueError):
                pass  # best effort: the connection is closed next whatever happened
            self.session_id = None
        self._conn.close()

    def __enter__(self) -> McpClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- one exchange ----------------------------------------------------------------------

    def _call(self, method: str, params: Any, *, notification: bool = False) -> McpResult:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        request_id = None if notification else next(self._ids)
        if request_id is not None:
            message["id"] = request_id
        if params is not None:
            message["params"] = params
        body = json.dumps(message, separators=(",", ":")).encode()
        result = McpResult(method=method)
        headers = self._session_headers()
        if self._trace_context:
            trace = RequestTrace.new()
            headers.update(trace.headers(self.baggage))
            result.trace_id = trace.trace_id
        total = gevent.Timeout(self._total_timeout)
        result.wall_send = self._clock()
        result.t_send = time.perf_counter()
        total.start()
        with exchange(self._conn, result, total) as current:
            try:
                current.response = response = self._conn.http.request(
                    "POST", self._path, body=body, headers=headers
                )
                self._conn.probe.headers_read()
                self._read(response, result, request_id)
                # A body left unread (an error body cut at its cap) must not be reused.
                current.clean = response.message_complete
            except gevent.Timeout as exc:
                if exc is not total:
                    raise
                kind: ErrorKind = "timeout" if self._conn.probe.connected else "connect"
                result.error_kind, result.error = kind, f"total timeout {self._total_timeout}s"
        return result

    def _session_headers(self) -> dict[str, str]:
        headers = dict(self._headers)
        if self.session_id is not None:
            headers[_SESSION_HEADER] = self.session_id
        if self.protocol_version is not None:
            headers[_VERSION_HEADER] = self.protocol_version
        return headers

    def _read(
        self, response: HTTPSocketPoolResponse, result: McpResult, request_id: int | None
    ) -> None:
        result.status_code = response.status_code
        session = response.get(_SESSION_HEADER)
        if session and result.method == "initialize":
            self.session_id = str(session)
        content_type = str(response.get("content-type", "")).lower()
        if response.status_code >= 400:
            raw, _whole = read_capped(response, MAX_ERROR_BODY_BYTES)
            text = raw.decode("utf-8", "replace")
            result.t_done = time.perf_counter()
            result.bytes = len(raw)
            result.error_kind = "http"
            result.error = f"HTTP {response.status_code}: {server_text(text, _ERROR_BODY_CHARS)}"
            return
        if request_id is None:
            raw, whole = read_capped(response, MAX_BODY_BYTES)
            result.t_done = time.perf_counter()
            result.bytes = len(raw)
            if not whole:
                raise Fault("protocol", f"body longer than {MAX_BODY_BYTES} bytes")
            return
        if content_type.startswith("text/event-stream"):
            reply = self._read_sse(response, result, request_id)
        elif content_type.startswith("application/json"):
            raw, whole = read_capped(response, MAX_BODY_BYTES)
            result.t_done = time.perf_counter()
            result.bytes = len(raw)
            if not whole:
                raise Fault("protocol", f"JSON body longer than {MAX_BODY_BYTES} bytes")
            reply = _parse(raw)
        else:
            raise Fault("protocol", f"unexpected content type {content_type!r}")
        reply_id = reply.get("id")
        if type(reply_id) is not int or reply_id != request_id:
            shown = reply_id if type(reply_id) in (int, str) else type(reply_id).__name__
            raise Fault("protocol", f"response id {str(shown)[:40]} != request id {request_id}")
        error = reply.get("error")
        if error is not None:
            detail = error.get("message", error) if type(error) is dict else error
            text = detail if type(detail) is str else f"({type(detail).__name__})"
            raise Fault("protocol", f"JSON-RPC error: {server_text(text)}")
        payload = reply.get("result")
        if not isinstance(payload, dict):
            raise Fault("protocol", "JSON-RPC response without a result object")
        result.result = payload

    def _read_sse(
        self, response: HTTPSocketPoolResponse, result: McpResult, request_id: int
    ) -> dict[str, Any]:
        decoder = SseDecoder(strict=True)
        reply: dict[str, Any] | None = None
        # The server closes the stream after the response; reading to its end keeps the
        # connection reusable (server-initiated messages before it are skipped).
        while chunk := read_available(response):
            result.bytes += len(chunk)
            if result.bytes > MAX_STREAM_BYTES:
                raise Fault("protocol", f"event stream longer than {MAX_STREAM_BYTES} bytes")
            try:
                events = decoder.feed(chunk)
            except SseError as exc:
                raise Fault("protocol", str(exc)) from None
            for event in events:
                if reply is not None or not event.data:
                    continue
                message = _parse(event.data)
                if (
                    type(message.get("id")) is int
                    and message["id"] == request_id
                    and ("result" in message or "error" in message)
                ):
                    reply = message
                    result.t_done = time.perf_counter()
        if reply is None:
            raise Fault("protocol", "event stream ended without the JSON-RPC response")
        return reply


def _parse(text: str | bytes) -> dict[str, Any]:
    try:
        message = json.loads(text)
    except ValueError:  # UnicodeDecodeError too: JSON must be UTF-8
        raise Fault("protocol", f"invalid JSON-RPC message: {text[:80]!r}") from None
    except RecursionError:
        raise Fault("protocol", f"JSON-RPC message nested too deeply: {text[:80]!r}") from None
    if type(message) is not dict:
        raise Fault("protocol", f"JSON-RPC message is not an object: {text[:80]!r}")
    return message


def _text_of(result: dict[str, Any]) -> str:
    """The text parts of a ``tools/call`` result (parts of other shapes are skipped)."""
    content = result.get("content")
    if type(content) is not list:
        return ""
    return " ".join(
        part["text"]
        for part in content
        if type(part) is dict and part.get("type") == "text" and type(part.get("text")) is str
    )
