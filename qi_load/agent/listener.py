"""The listening socket: bound once, and when file descriptors run out, accepts pause.

CPython 3.11's selector loop keeps calling accept() after EMFILE, up to the listen backlog
(2048) times per wake-up, logging a traceback each time and scheduling as many restarts:
53 MB of tracebacks in 20 s while it spins. Here the first EMFILE pauses accepting for
the loop's retry delay (the loop stops watching the socket and re-arms it 1 s later), and
the loop's exception handler turns its report into one line per interval.
"""

from __future__ import annotations

import asyncio
import errno
import resource
import socket
import time
from typing import Any, Final

from qi_load.agent.notice import Notice
from qi_load.errors import RunFailed

__all__ = [
    "FD_RESERVE",
    "Listener",
    "bind",
    "connection_capacity",
    "install_exception_handler",
    "raise_fd_limit",
]

_OUT_OF_RESOURCES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_PAUSE_S: Final = 0.5
"""Shorter than asyncio's 1 s re-arm delay, so the re-armed socket accepts again."""
_ACCEPT_FAILED: Final = "socket.accept() out of system resource"
FD_RESERVE: Final = 64
"""Descriptors kept free of client connections: logs, sandbox files, the MCP client."""


class Listener(socket.socket):
    """A listening TCP socket whose accept() refuses to spin on EMFILE (see module doc)."""

    paused_until = 0.0

    def accept(self) -> tuple[socket.socket, Any]:
        if time.monotonic() < self.paused_until:
            raise BlockingIOError  # the accept loop's "nothing to accept": it returns
        try:
            return super().accept()
        except OSError as exc:
            if exc.errno in _OUT_OF_RESOURCES:
                self.paused_until = time.monotonic() + _PAUSE_S
            raise


def bind(host: str, port: int, backlog: int = 2048) -> Listener:
    """A non-blocking listening socket; RunFailed (one line) if the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the
    # listening socket says TCP, and without it Nagle holds small SSE events for ~40 ms.
    sock = Listener(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RunFailed(f"cannot bind {host}:{port}: {exc.strerror}") from None
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def install_exception_handler(loop: asyncio.AbstractEventLoop) -> None:
    """Out-of-descriptor accept failures become one line per interval, not a traceback each."""
    notice = Notice()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == _ACCEPT_FAILED:
            exc = context.get("exception")
            reason = exc.strerror if isinstance(exc, OSError) else "out of resources"
            notice.say(f"cannot accept connections ({reason}); pausing accepts for 1 s")
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handle)


def raise_fd_limit() -> int:
    """Raise this process's descriptor limit to its hard limit; returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def connection_capacity(requested: int, fd_limit: int) -> int:
    """Client connections served at once: `requested`, at most the descriptors left over."""
    return max(1, min(requested, fd_limit - FD_RESERVE))
