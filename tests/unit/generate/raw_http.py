"""Reading HTTP/1.1 requests off a raw keep-alive socket, for the in-process test servers."""

from __future__ import annotations

import socket
from collections.abc import Iterator


def requests_from(sock: socket.socket) -> Iterator[tuple[bytes, dict[str, str], bytes]]:
    """Each request on the connection as (raw head, lower-cased headers, body)."""
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                return
            buf += data
        head, _, rest = buf.partition(b"\r\n\r\n")
        _line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {
            key.strip().lower(): value.strip()
            for key, _, value in (h.partition(":") for h in header_lines)
        }
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            rest += sock.recv(65536)
        buf = rest[length:]
        yield head, headers, rest[:length]
