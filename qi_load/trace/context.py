"""W3C trace context for one request: ``traceparent`` plus ``baggage`` naming the run's coordinates.

Each request starts a fresh trace (sampled), so the agent's spans for it share one trace id that
``requests.csv`` stores; the baggage lets a collector or the agent see which run, stage, user,
query type and conversation the request belongs to without asking qi-load.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

__all__ = [
    "BAGGAGE_HEADER",
    "TRACEPARENT_HEADER",
    "RequestTrace",
    "baggage_value",
    "parse_traceparent",
]

TRACEPARENT_HEADER: Final = "traceparent"
BAGGAGE_HEADER: Final = "baggage"
_VERSION: Final = "00"
_SAMPLED: Final = "01"
# W3C baggage caps a header at 8192 bytes; stay well inside so proxies never truncate it.
_BAGGAGE_MAX_BYTES: Final = 2048
# getrandbits on a private generator is ~20x cheaper than secrets and needs no syscall;
# trace ids must be unique, not unpredictable.
_rng: Final = random.Random()


@dataclass(frozen=True)
class RequestTrace:
    """The ids of one request's trace: the client's root span is the agent's parent."""

    trace_id: str
    span_id: str

    @classmethod
    def new(cls, rng: random.Random = _rng) -> RequestTrace:
        trace, span = 0, 0
        while trace == 0:  # all-zero ids are invalid in W3C trace context
            trace = rng.getrandbits(128)
        while span == 0:
            span = rng.getrandbits(64)
        return cls(trace_id=f"{trace:032x}", span_id=f"{span:016x}")

    @property
    def traceparent(self) -> str:
        return f"{_VERSION}-{self.trace_id}-{self.span_id}-{_SAMPLED}"

    def headers(self, baggage: Mapping[str, object] | None = None) -> dict[str, str]:
        """The request headers that carry this trace (and ``baggage`` when given)."""
        headers = {TRACEPARENT_HEADER: self.traceparent}
        if baggage:
            value = baggage_value(baggage)
            if value:
                headers[BAGGAGE_HEADER] = value
        return headers


def baggage_value(items: Mapping[str, object]) -> str:
    """A W3C ``baggage`` header value: ``key=value`` pairs, values percent-encoded.

    Entries whose value is ``None`` or empty are left out; entries that would push the header
    past the size budget are dropped from the end rather than sent truncated.
    """
    parts: list[str] = []
    size = 0
    for key, value in items.items():
        if value is None or value == "":
            continue
        entry = f"{quote(key, safe='')}={quote(str(value), safe='')}"
        added = len(entry) + (1 if parts else 0)
        if size + added > _BAGGAGE_MAX_BYTES:
            break
        parts.append(entry)
        size += added
    return ",".join(parts)


def parse_traceparent(value: str) -> RequestTrace | None:
    """The trace and parent span ids of a ``traceparent`` header, or None when malformed."""
    fields = value.strip().split("-")
    if len(fields) < 4 or len(fields[0]) != 2 or fields[0] == "ff":
        return None
    trace_id, span_id = fields[1].lower(), fields[2].lower()
    if len(trace_id) != 32 or len(span_id) != 16:
        return None
    try:
        if int(trace_id, 16) == 0 or int(span_id, 16) == 0:
            return None
    except ValueError:
        return None
    return RequestTrace(trace_id=trace_id, span_id=span_id)
