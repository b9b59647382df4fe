"""Sans-IO Server-Sent-Events decoder (WHATWG rules): bytes in, events out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["SseDecoder", "SseEvent"]

_BOM: Final = b"\xef\xbb\xbf"
# Line ends are ASCII, so splitting bytes never cuts a multi-byte UTF-8 character: each
# complete line is decoded on its own, and a character split across chunks simply waits
# in the buffer with the rest of its line.
_ANY_EOL: Final = re.compile(rb"\r\n|\r|\n")


@dataclass(slots=True)
class SseEvent:
    """One dispatched event. ``id`` is the last event id seen so far (it persists)."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SseDecoder:
    """Incremental decoder: ``feed(chunk)`` returns the events completed by that chunk."""

    __slots__ = (
        "_bom_checked",
        "_data",
        "_event",
        "_has_fields",
        "_last_id",
        "_pending",
        "_retry",
        "_skip_lf",
    )

    def __init__(self) -> None:
        self._pending = b""
        self._bom_checked = False
        self._skip_lf = False
        self._data: list[str] = []
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
        if (
            self._bom_checked
            and not self._pending
            and not self._has_fields
            and chunk.startswith(b"data: ")
            and chunk.endswith(b"\n\n")
            and chunk.find(b"\n") == len(chunk) - 2
            and b"\r" not in chunk
        ):
            # Fast path for the usual case, one whole single-line event per read.
            return [SseEvent(chunk[6:-2].decode("utf-8", "replace"), id=self._last_id)]
        buf = self._pending + chunk if self._pending else chunk
        if not self._bom_checked:
            if len(buf) < len(_BOM) and _BOM.startswith(buf):
                self._pending = buf
                return []
            self._bom_checked = True
            if buf.startswith(_BOM):
                buf = buf[len(_BOM) :]
        if b"\r" in buf:
            lines = _ANY_EOL.split(buf)
            if buf.endswith(b"\r"):
                self._skip_lf = True
        else:
            lines = buf.split(b"\n")
        self._pending = lines.pop()
        events: list[SseEvent] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append(self._dispatch())
                else:
                    self._reset_event()
                data = self._data
            elif line.startswith(b"data: "):
                # The usual field, inlined: this loop runs for every event of a stream.
                data.append(line[6:].decode("utf-8", "replace"))
                self._has_fields = True
            else:
                self._field(line)
        return events

    def close(self) -> bool:
        """End of input: True if the stream stopped inside an event (which is dropped)."""
        mid_event = bool(self._pending) or self._has_fields
        self._pending = b""
        self._reset_event()
        return mid_event

    def _field(self, line: bytes) -> None:
        if line[0] == 0x3A:  # ":" starts a comment
            return
        text = line.decode("utf-8", "replace")
        name, colon, value = text.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self._has_fields = True
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
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
        self._event = ""
        self._retry = None
        self._has_fields = False
