"""How much of a response the chat and MCP clients will read and hold: one home for the caps.

A server can answer anything; these bounds keep one hostile or broken response from taking
a worker's memory or CPU. A response that exceeds one is a ``protocol`` failure (an error
body is cut instead: its start is all a record keeps). docs/metrics.md lists them.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_CHECKED_CODE_CHARS",
    "MAX_ERROR_BODY_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_SSE_EVENT_BYTES",
    "MAX_SSE_LINE_BYTES",
    "MAX_STREAM_BYTES",
]

MAX_ERROR_BODY_BYTES: Final = 64 * 1024
"""Read of a status >= 400 body; the rest is left unread and the connection closed."""

MAX_HEADER_BYTES: Final = 128 * 1024
"""Bytes received before the response headers end (plain HTTP: TLS reads bypass the count).
Real headers are a few hundred bytes; geventhttpclient joins a long one quadratically."""

MAX_BODY_BYTES: Final = 16 * 1024 * 1024
"""A whole (non-streamed) JSON answer or JSON-RPC reply, held in memory to be parsed."""

MAX_STREAM_BYTES: Final = 64 * 1024 * 1024
"""A whole event stream: room for ~100k tokens at ~300 bytes per OpenAI chunk."""

MAX_SSE_LINE_BYTES: Final = 1024 * 1024
"""One line of an event stream (a chunk's ``data:`` line is a few hundred bytes)."""

MAX_SSE_EVENT_BYTES: Final = 4 * 1024 * 1024
"""The data of one event (all its ``data:`` lines together)."""

MAX_CHECKED_CODE_CHARS: Final = 256 * 1024
"""A code block larger than this fails the compile check unread: compiling is CPU time."""
