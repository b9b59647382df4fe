"""geventhttpclient helpers shared by the chat and MCP clients: read, discard, classify."""

from __future__ import annotations

import errno
import socket
from typing import Final

from geventhttpclient.response import HTTPConnectionClosed, HTTPSocketPoolResponse

from qi_load.record.schema import ErrorKind

__all__ = ["classify_socket_error", "close_response_socket", "read_available"]

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


def close_response_socket(response: HTTPSocketPoolResponse | None) -> None:
    """Close a half-read response's socket so it can never return to a keep-alive pool.

    geventhttpclient has no public abort; callers then replace their ``HTTPClient``.
    """
    if response is not None and response._sock is not None:
        response._sock.close()


def classify_socket_error(exc: BaseException, got_response: bool) -> tuple[ErrorKind, str]:
    """``(error_kind, message)`` of a socket or HTTP parsing failure."""
    if isinstance(exc, socket.gaierror):
        return "connect", f"name resolution failed: {exc}"
    if isinstance(exc, TimeoutError | socket.timeout):
        where = "mid-stream" if got_response else "connecting or waiting for headers"
        return "timeout", f"socket timeout {where}: {exc}"
    if isinstance(exc, OSError) and exc.errno in _CONNECT_ERRNOS and not got_response:
        return "connect", f"{type(exc).__name__}: {exc}"
    where = "mid-stream" if got_response else "before the response"
    return "protocol", f"connection failed {where}: {type(exc).__name__}: {exc}"
