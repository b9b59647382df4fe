"""Socket-error classification shared by the chat and MCP clients."""

from __future__ import annotations

import errno
import socket

import pytest

from qi_load.generate.transport import Fault, classify_failure, classify_socket_error, server_text


@pytest.mark.parametrize(
    ("exc", "connected", "got_response", "kind", "words"),
    [
        (socket.gaierror(-2, "Name or service not known"), False, False, "connect", "resolution"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), False, False, "connect", "refused"),
        (OSError(errno.EHOSTUNREACH, "no route"), False, False, "connect", "no route"),
        (TimeoutError("timed out"), False, False, "connect", "connect timeout"),
        (TimeoutError("timed out"), True, False, "timeout", "waiting for headers"),
        (TimeoutError("timed out"), True, True, "timeout", "mid-stream"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), False, False, "connect", "reset"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), True, False, "protocol", "before the"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), True, True, "protocol", "mid-stream"),
    ],
)
def test_classify(
    exc: BaseException, connected: bool, got_response: bool, kind: str, words: str
) -> None:
    got_kind, message = classify_socket_error(exc, connected=connected, got_response=got_response)
    assert got_kind == kind and words in message


def test_server_text_is_one_printable_line() -> None:
    assert server_text("  a\n\tb  ") == "a b"
    assert server_text("\x1b[31mred\x1b[0m\x00") == "?[31mred?[0m?"
    assert server_text("x" * 1000, 10) == "x" * 10


@pytest.mark.parametrize(
    ("exc", "kind", "message"),
    [
        (Fault("http", "HTTP 503: busy"), "http", "HTTP 503: busy"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "protocol", "connection failed"),
        (
            ValueError("\x1b[2Jchoices"),
            "protocol",
            "response not understood: ValueError: ?[2Jchoices",
        ),
    ],
)
def test_classify_failure(exc: Exception, kind: str, message: str) -> None:
    got_kind, got = classify_failure(exc, connected=True, got_response=True)
    assert got_kind == kind and got.startswith(message)
