"""One open-loop user's schedule of request starts, at the scenario's rate or a stage's own.

Users share the total rate (``Arrival.gap_s``). At the scenario's rate a user sleeps until its
next start, as Locust's ``wait_time`` does. A stage with a rate of its own (a capacity search
step) can change the rate at any second, and a sleeping user would keep the old rate for a
whole gap (tens of seconds with many users); so there a user wakes at least every
``POLL_S``, and at a new stage draws its next start afresh at the new rate: Poisson gaps are
memoryless, so the stream stays Poisson, and the last step's unsent backlog is dropped, so
each step measures its own rate.
"""

from __future__ import annotations

import random
from typing import Final

from qi_load.scenario import Arrival

__all__ = ["POLL_S", "OpenSchedule", "first_gap_s"]

POLL_S: Final = 1.0
"""Longest sleep of a user at a stage's own rate."""


def first_gap_s(arrival: Arrival, rng: random.Random, users: int, rate: float | None) -> float:
    """Seconds to a new user's (or a new step's) first start: a Poisson gap, or for constant
    gaps an even spread over one, so users do not all start in the same instant."""
    gap = arrival.gap_s(rng, users, rate)
    return rng.uniform(0.0, gap) if arrival.process == "constant" else gap


class OpenSchedule:
    """When this user starts its next request (unix s), and how long to sleep until then."""

    def __init__(self, arrival: Arrival, rng: random.Random, now: float) -> None:
        self.arrival, self.rng = arrival, rng
        self.next = now
        self._stage = ""
        self._counted = False

    def due(self, now: float) -> bool:
        return now >= self.next

    def sent(self) -> None:
        """The start at ``next`` was made: the following one is a gap later."""
        self._counted = True

    def wait_s(self, now: float, users: int, stage: str, stage_rate: float) -> float:
        """Seconds to sleep before the next start is due (or, at a stage's own rate, before
        looking again)."""
        if stage_rate and stage != self._stage:
            self._stage, self._counted = stage, False
            self.next = now + first_gap_s(self.arrival, self.rng, users, stage_rate)
        elif self._counted:
            self._counted = False
            self.next += self.arrival.gap_s(self.rng, users, stage_rate or None)
        left = max(0.0, self.next - now)
        return min(left, POLL_S) if stage_rate else left
