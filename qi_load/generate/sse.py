"""Sans-IO Server-Sent-Events decoder (WHATWG rules): bytes in, events out, in linear time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from qi_load.generate.limits import MAX_SSE_EVENT_BYTES, MAX_SSE_LINE_BYTES

__all__ = ["SseDecoder", "SseError", "SseEvent"]

_BOM: Final = b"\xef\xbb\xbf"
# Line ends are ASCII, so splitting bytes never cuts a multi-byte UTF-8 character: each
# complete line is decoded on its own, and a character split across chunks simply waits
# in the buffer with the rest of its line.
_ANY_EOL: Final = re.compile(rb"\r\n|\r|\n")


class SseError(ValueError):
    """The stream broke a limit (line or event size) or, when strict, is not UTF-8."""


@dataclass(slots=True)
class SseEvent:
    """One dispatched event. ``id`` is the last event id seen so far (it persists)."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SseDecoder:
    """Incremental decoder: ``feed(chunk)`` returns the events completed by that chunk.

    Each byte is scanned a bounded number of times whatever the split (a long line arriving
    in small pieces waits in a list, joined once when its end comes). A line longer than
    ``max_line`` or an event whose data exceed ``max_event`` bytes raises ``SseError``, as
    does invalid UTF-8 when ``strict`` (the specification replaces it, the default); after
    an ``SseError`` the decoder is spent.
    """

    __slots__ = (
        "_bom_checked",
        "_data",
        "_data_bytes",
        "_errors",
        "_event",
        "_has_fields",
        "_last_id",
        "_max_event",
        "_max_line",
        "_pending",
        "_pending_bytes",
        "_retry",
        "_skip_lf",
    )

    def __init__(
        self,
        *,
        max_line: int = MAX_SSE_LINE_BYTES,
        max_event: int = MAX_SSE_EVENT_BYTES,
        strict: bool = False,
    ) -> None:
        self._max_line = max_line
        self._max_event = max_event
        self._errors = "strict" if strict else "replace"
        self._pending: list[bytes] = []  # pieces of an unfinished line: never a line end
        self._pending_bytes = 0
        self._bom_checked = False
        self._skip_lf = False
        self._data: list[str] = []
        self._data_bytes = 0
        self._event = ""
        self._retry: int | None = None
        self._last_id: str | None = None
        self._has_fields = False

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Decode ``chunk`` (any split of the stream) and return the events it completes."""
        if not chunk:
            return []
        if self._skip_lf:
            # The previous chunk ended with "\r"; a "\n" right after it is the same line end.
            self._skip_lf = False
            if chunk[0] == 0x0A:
                chunk = chunk[1:]
                if not chunk:
                    return []
        if not self._bom_checked:
            chunk = self._strip_bom(chunk)
            if not chunk:
                return []
        if (
            not self._pending
            and not self._has_fields
            and len(chunk) <= self._max_line
            and chunk.startswith(b"data: ")
            and chunk.endswith(b"\n\n")
            and chunk.find(b"\n") == len(chunk) - 2
            and b"\r" not in chunk
        ):
            # Fast path for the usual case, one whole single-line event per read.
            return [SseEvent(self._decode(chunk[6:-2]), id=self._last_id)]
        if b"\r" in chunk:
            lines = _ANY_EOL.split(chunk)
            if chunk.endswith(b"\r"):
                self._skip_lf = True
        else:
            lines = chunk.split(b"\n")
        tail = lines.pop()
        if lines and self._pending:
            # The pending pieces hold no line end, so they start this chunk's first line.
            self._pending.append(lines[0])
            lines[0] = b"".join(self._pending)
            self._pending, self._pending_bytes = [], 0
        if tail:
            self._pending.append(tail)
            self._pending_bytes += len(tail)
            if self._pending_bytes > self._max_line:
                raise SseError(f"an event-stream line longer than {self._max_line} bytes")
        events: list[SseEvent] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(self._dispatch())
                else:
                    self._reset_event()
                continue
            if len(line) > self._max_line:
                raise SseError(f"an event-stream line longer than {self._max_line} bytes")
            if line.startswith(b"data: "):
                # The usual field, inlined: this loop runs for every event of a stream.
                self._add_data(line[6:])
            else:
                self._field(line)
        return events

    def close(self) -> bool:
        """End of input: True if the stream stopped inside an event (which is dropped)."""
        mid_event = bool(self._pending) or self._has_fields
        self._pending, self._pending_bytes = [], 0
        self._reset_event()
        return mid_event

    def _strip_bom(self, chunk: bytes) -> bytes:
        """``chunk`` without a leading BOM; holds back a possible BOM's first bytes."""
        held = b"".join(self._pending)
        buf = held + chunk
        if len(buf) < len(_BOM) and _BOM.startswith(buf):
            self._pending, self._pending_bytes = [buf], len(buf)
            return b""
        self._bom_checked = True
        self._pending, self._pending_bytes = [], 0
        return buf[len(_BOM) :] if buf.startswith(_BOM) else buf

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8", self._errors)
        except UnicodeDecodeError as exc:
            raise SseError(f"invalid UTF-8 in the event stream: {exc.reason}") from None

    def _add_data(self, raw: bytes) -> None:
        self._data_bytes += len(raw) + 1
        if self._data_bytes > self._max_event:
            raise SseError(f"an event's data exceed {self._max_event} bytes")
        self._data.append(self._decode(raw))
        self._has_fields = True

    def _field(self, line: bytes) -> None:
        if line[0] == 0x3A:  # ":" starts a comment
            return
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        self._has_fields = True
        if name == b"data":
            self._add_data(value)
        elif name == b"event":
            self._event = self._decode(value)
        elif name == b"id":
            if b"\x00" not in value:
                self._last_id = self._decode(value)
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)
        # Unknown field names are ignored, as the specification says.

    def _dispatch(self) -> SseEvent:
        event = SseEvent(
            data="\n".join(self._data),
            event=self._event or "message",
            id=self._last_id,
            retry=self._retry,
        )
        self._reset_event()
        return event

    def _reset_event(self) -> None:
        self._data = []
        self._data_bytes = 0
        self._event = ""
        self._retry = None
        self._has_fields = False
