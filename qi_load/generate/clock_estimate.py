"""NTP-style clock-offset estimation from ping/pong timestamps: pure arithmetic on plain numbers.

A worker sends a ping at ``t1`` (its clock), the master receives it at ``t2`` and answers at
``t3`` (the master's clock), the worker receives the answer at ``t4`` (its clock). With a
symmetric path the master's clock reads ``offset`` more than the worker's, where

    offset = ((t2 - t1) + (t3 - t4)) / 2        delay = (t4 - t1) - (t3 - t2)

and an asymmetric path errs by at most ``delay / 2``: so of several samples, the one with the
lowest delay wins (queueing and scheduling only ever add delay, and rarely evenly).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ClockEstimate", "ClockSample", "disagree", "estimate_offset"]


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One ping/pong exchange, in unix seconds, each time on the clock that read it."""

    t1: float
    """The worker sent the ping (worker's clock)."""
    t2: float
    """The master received it (master's clock)."""
    t3: float
    """The master sent the pong (master's clock)."""
    t4: float
    """The worker received the pong (worker's clock)."""

    @property
    def offset_s(self) -> float:
        """The master's clock minus the worker's, as this exchange sees it."""
        return ((self.t2 - self.t1) + (self.t3 - self.t4)) / 2.0

    @property
    def delay_s(self) -> float:
        """Round trip on the wire (the master's handling time taken out)."""
        return (self.t4 - self.t1) - (self.t3 - self.t2)


@dataclass(frozen=True, slots=True)
class ClockEstimate:
    """The offset to apply: master time = worker time + ``offset_s``."""

    offset_s: float
    delay_s: float
    """Round trip of the winning sample: the offset is right to within half of it."""
    samples: int
    """Usable samples it was chosen from."""


def _usable(sample: ClockSample) -> bool:
    values = (sample.t1, sample.t2, sample.t3, sample.t4)
    # A negative round trip or handling time means a clock stepped during the exchange.
    return (
        all(math.isfinite(v) for v in values) and sample.t3 >= sample.t2 and sample.delay_s >= 0.0
    )


def estimate_offset(samples: Iterable[ClockSample]) -> ClockEstimate | None:
    """The offset of the lowest-delay usable sample; ``None`` when there is none."""
    usable = [s for s in samples if _usable(s)]
    if not usable:
        return None
    best = min(usable, key=lambda s: s.delay_s)
    return ClockEstimate(offset_s=best.offset_s, delay_s=best.delay_s, samples=len(usable))


def disagree(a: ClockEstimate, b: ClockEstimate, slack_s: float) -> bool:
    """Whether ``a`` and ``b`` cannot both be right: their offsets differ by more than their
    error bounds (half of each round trip) plus ``slack_s`` (drift between the two): a clock
    was stepped in between."""
    return abs(a.offset_s - b.offset_s) > (a.delay_s + b.delay_s) / 2.0 + slack_s
