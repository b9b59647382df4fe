"""geventhttpclient helpers shared by the chat and MCP clients: read, discard, classify, reuse."""

from __future__ import annotations

import errno
import socket
from typing import Any, Final

from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPConnectionClosed, HTTPSocketPoolResponse

from qi_load.record.schema import ErrorKind

__all__ = [
    "ReuseProbe",
    "classify_socket_error",
    "close_response_socket",
    "read_available",
    "read_capped",
]

_CONNECT_ERRNOS: Final = frozenset(
    {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}
)


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


class ReuseProbe:
    """Whether the last request of an ``HTTPClient`` went out on a kept-alive connection.

    The pool hands out its idle socket when ``select`` finds it alive, else it opens a new
    one; only the pool knows which, so the probe wraps its two methods. ``reused`` is
    False when no socket was obtained at all; ``connected`` says whether one was (False:
    the request failed while connecting).
    """

    __slots__ = ("_opened", "connected", "reused")

    def __init__(self, http: HTTPClient) -> None:
        self.reused = False
        self.connected = False
        self._opened = False
        pool = http._connection_pool
        get_socket, create_socket = pool.get_socket, pool._create_socket

        def create() -> Any:
            self._opened = True
            return create_socket()

        def get() -> Any:
            self._opened = self.reused = self.connected = False
            sock = get_socket()
            self.reused = not self._opened
            self.connected = True
            return sock

        pool._create_socket = create  # type: ignore[method-assign]
        pool.get_socket = get  # type: ignore[method-assign]
