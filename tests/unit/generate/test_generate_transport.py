"""Socket-error classification shared by the chat and MCP clients."""

from __future__ import annotations

import errno
import socket

import pytest

from qi_load.generate.transport import classify_socket_error


@pytest.mark.parametrize(
    ("exc", "got_response", "kind", "words"),
    [
        (socket.gaierror(-2, "Name or service not known"), False, "connect", "name resolution"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), False, "connect", "refused"),
        (OSError(errno.EHOSTUNREACH, "no route"), False, "connect", "no route"),
        (TimeoutError("timed out"), False, "timeout", "waiting for headers"),
        (TimeoutError("timed out"), True, "timeout", "mid-stream"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), False, "protocol", "before the response"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), True, "protocol", "mid-stream"),
    ],
)
def test_classify(exc: BaseException, got_response: bool, kind: str, words: str) -> None:
    got_kind, message = classify_socket_error(exc, got_response)
    assert got_kind == kind and words in message
