"""geventhttpclient helpers shared by the chat and MCP clients: read, discard, classify, reuse."""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final, Protocol
from urllib.parse import SplitResult

import gevent.socket
from geventhttpclient import HTTPClient
from geventhttpclient.connectionpool import ConnectionPool
from geventhttpclient.response import (
    HTTPConnectionClosed,
    HTTPParseError,
    HTTPSocketPoolResponse,
)

from qi_load.generate.limits import MAX_HEADER_BYTES
from qi_load.vocabulary import ErrorKind

__all__ = [
    "Connection",
    "Exchange",
    "Fault",
    "HeadersTooLarge",
    "ReuseProbe",
    "classify_failure",
    "classify_socket_error",
    "close_response_socket",
    "exchange",
    "read_available",
    "read_capped",
    "server_text",
]

_CONNECT_ERRNOS: Final = frozenset(
    {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}
)


class Fault(Exception):
    """A request fault found while reading: becomes ``error_kind``/``error`` of the result."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


class HeadersTooLarge(HTTPParseError):
    """More than ``MAX_HEADER_BYTES`` arrived before the response headers ended."""


class _HeaderBoundSocket(gevent.socket.socket):  # type: ignore[misc]
    """A socket that receives at most ``header_room`` bytes while it is set (not None).

    geventhttpclient reads the headers inside ``request()`` with no size limit, joining a
    long header piece by piece; counting its reads is the one place to stop it.
    """

    __slots__ = ("header_room",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.header_room: int | None = None

    def recv(self, *args: Any) -> bytes:
        data: bytes = super().recv(*args)
        room = self.header_room
        if room is not None:
            room -= len(data)
            if room < 0:
                raise HeadersTooLarge(f"response headers longer than {MAX_HEADER_BYTES} bytes")
            self.header_room = room
        return data


def server_text(text: str, limit: int = 200) -> str:
    """A server's words for a one-line error: whitespace runs as one space, control and
    other unprintable characters (terminal escapes included) as "?", at most ``limit``."""
    line = " ".join(text[: limit * 4].split())[:limit]
    return line if line.isprintable() else "".join(c if c.isprintable() else "?" for c in line)


def read_available(response: HTTPSocketPoolResponse) -> bytes:
    """The body bytes that have arrived: what is buffered, else one recv (b"" at the end).

    geventhttpclient's ``read(n)`` waits for n bytes, so block reads delay small events;
    reading whatever one recv brings keeps each event's arrival time exact.
    """
    buffer = response._body_buffer
    while not buffer:
        if response.message_complete:
            return b""
        sock = response._sock
        if sock is None:
            raise HTTPConnectionClosed("connection closed before the end of the body")
        data = sock.recv(response.block_size)
        response.feed(data)
        if not data and not response.message_complete:
            raise HTTPConnectionClosed("connection closed before the end of the body")
    out = bytes(buffer)
    del buffer[:]
    return out


def read_capped(response: HTTPSocketPoolResponse, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` body bytes, and whether they are the whole body.

    The rest stays unread: a cut response's connection must not be reused.
    """
    parts: list[bytes] = []
    size = 0
    while chunk := read_available(response):
        size += len(chunk)
        if size > limit:
            parts.append(chunk[: len(chunk) - (size - limit)])
            return b"".join(parts), False
        parts.append(chunk)
    return b"".join(parts), True


def close_response_socket(response: HTTPSocketPoolResponse | None) -> None:
    """Close a half-read response's socket so it can never return to a keep-alive pool.

    geventhttpclient has no public abort; callers then replace their ``HTTPClient``.
    """
    if response is not None and response._sock is not None:
        response._sock.close()


def classify_socket_error(
    exc: BaseException, *, connected: bool, got_response: bool
) -> tuple[ErrorKind, str]:
    """``(error_kind, message)`` of a socket or HTTP parsing failure.

    ``connected``: a TCP connection was in hand (a failure before it, a connect timeout
    included, is ``connect``); ``got_response``: its status line and headers had arrived.
    """
    if isinstance(exc, HeadersTooLarge):
        return "protocol", str(exc)
    if isinstance(exc, socket.gaierror):
        return "connect", f"name resolution failed: {exc}"
    if not connected and isinstance(exc, TimeoutError | socket.timeout):
        return "connect", f"connect timeout: {exc}"
    if isinstance(exc, TimeoutError | socket.timeout):
        where = "mid-stream" if got_response else "waiting for headers"
        return "timeout", f"socket timeout {where}: {exc}"
    if (
        isinstance(exc, OSError)
        and not got_response
        and (not connected or exc.errno in _CONNECT_ERRNOS)
    ):
        return "connect", f"{type(exc).__name__}: {exc}"
    where = "mid-stream" if got_response else "before the response"
    return "protocol", f"connection failed {where}: {type(exc).__name__}: {exc}"


def classify_failure(
    exc: Exception, *, connected: bool, got_response: bool
) -> tuple[ErrorKind, str]:
    """``(error_kind, message)`` of the exception a request ended with (timeouts aside).

    A ``Fault`` keeps its kind; a socket or HTTP parsing failure is classified by
    ``classify_socket_error`` (``connected``, ``got_response`` as there); anything else is
    the server's protocol fault: whatever a server sends, its request must leave a row,
    and a response the client failed to foresee is never a lost request.
    """
    if isinstance(exc, Fault):
        return exc.kind, str(exc)
    if isinstance(exc, HTTPParseError | OSError):
        return classify_socket_error(exc, connected=connected, got_response=got_response)
    return "protocol", f"response not understood: {type(exc).__name__}: {server_text(str(exc))}"


class ReuseProbe:
    """Whether the last request of an ``HTTPClient`` went out on a kept-alive connection.

    The pool hands out its idle socket when ``select`` finds it alive, else it opens a new
    one; only the pool knows which, so the probe wraps its two methods. ``reused`` is
    False when no socket was obtained at all; ``connected`` says whether one was (False:
    the request failed while connecting).

    It also bounds what the response headers may take (``MAX_HEADER_BYTES``, plain HTTP):
    the socket it hands out counts until ``headers_read()``.
    """

    __slots__ = ("_opened", "_socket", "connected", "reused")

    def __init__(self, http: HTTPClient) -> None:
        self.reused = False
        self.connected = False
        self._opened = False
        self._socket: Any = None
        pool = http._connection_pool
        get_socket, create_socket = pool.get_socket, pool._create_socket
        if type(pool) is ConnectionPool:
            pool._create_tcp_socket = _HeaderBoundSocket  # type: ignore[method-assign,assignment]

        def create() -> Any:
            self._opened = True
            return create_socket()

        def get() -> Any:
            self._opened = self.reused = self.connected = False
            sock = get_socket()
            self.reused = not self._opened
            self.connected = True
            if isinstance(sock, _HeaderBoundSocket):
                sock.header_room = MAX_HEADER_BYTES
            self._socket = sock
            return sock

        pool._create_socket = create  # type: ignore[method-assign]
        pool.get_socket = get  # type: ignore[method-assign]

    def headers_read(self) -> None:
        """The response headers are in: the body is bounded elsewhere."""
        if isinstance(self._socket, _HeaderBoundSocket):
            self._socket.header_room = None
        self._socket = None


class Connection:
    """The one keep-alive connection of a client to ``http(s)://host[:port]`` (a
    geventhttpclient ``HTTPClient`` of one socket) and the ``ReuseProbe`` of its requests.

    A response left half-read must never be reused: ``discard`` replaces the whole client.
    """

    __slots__ = (
        "_block_size",
        "_connect_timeout",
        "_network_timeout",
        "host",
        "http",
        "port",
        "probe",
        "ssl",
    )

    def __init__(
        self,
        parts: SplitResult,
        *,
        connect_timeout: float,
        network_timeout: float,
        block_size: int = HTTPClient.BLOCK_SIZE,
    ) -> None:
        """``parts``: a checked http(s) URL with a host name."""
        self.host = str(parts.hostname)
        self.ssl = parts.scheme == "https"
        self.port = parts.port or (443 if self.ssl else 80)
        self._connect_timeout = connect_timeout
        self._network_timeout = network_timeout
        self._block_size = block_size
        self.http, self.probe = self._open()

    def _open(self) -> tuple[HTTPClient, ReuseProbe]:
        http = HTTPClient(
            self.host,
            port=self.port,
            ssl=self.ssl,
            concurrency=1,
            block_size=self._block_size,
            connection_timeout=self._connect_timeout,
            network_timeout=self._network_timeout,
        )
        return http, ReuseProbe(http)

    def discard(self, response: HTTPSocketPoolResponse | None) -> None:
        """Drop the connection (and ``response``'s socket): the next request opens anew."""
        close_response_socket(response)
        self.http.close()
        self.http, self.probe = self._open()

    def close(self) -> None:
        self.http.close()


class Outcome(Protocol):
    """What ``exchange`` records on a request's result."""

    ok: bool
    error_kind: ErrorKind
    error: str
    t_done: float | None


class Exchange:
    """One request on a ``Connection``: its response once the headers are in, and whether
    its body was read to the end (only then may the connection serve the next request)."""

    __slots__ = ("clean", "response")

    def __init__(self) -> None:
        self.response: HTTPSocketPoolResponse | None = None
        self.clean = False


@contextmanager
def exchange(conn: Connection, result: Outcome, total: gevent.Timeout) -> Iterator[Exchange]:
    """One request on ``conn`` under its ``total`` timer, which ends with it.

    Any exception but a timeout (the caller names those) becomes ``result``'s error by
    ``classify_failure``; a failed request is done when it failed; a connection whose
    response was not read to the end is discarded; ``result.ok`` is set last.
    """
    current = Exchange()
    try:
        yield current
    except Exception as exc:
        result.error_kind, result.error = classify_failure(
            exc, connected=conn.probe.connected, got_response=current.response is not None
        )
    finally:
        total.close()
        if result.t_done is None:
            result.t_done = time.perf_counter()
        if not current.clean:
            conn.discard(current.response)
    result.ok = result.error_kind == "none"
