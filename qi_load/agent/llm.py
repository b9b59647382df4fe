"""The simulated language model: a FIFO pool of inference slots and the token time schedule."""

from __future__ import annotations

import asyncio
import random
from collections import deque

__all__ = ["QueueFull", "SlotPool", "sleep_until", "token_offsets"]


class QueueFull(Exception):
    """Every slot is busy and the waiting queue is at its limit (answered with 429)."""


class SlotPool:
    """`slots` concurrent generations; up to `queue_limit` more wait in FIFO order."""

    def __init__(self, slots: int, queue_limit: int) -> None:
        self.slots = slots
        self.queue_limit = queue_limit
        self._free = slots
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def busy(self) -> int:
        return self.slots - self._free

    @property
    def waiting(self) -> int:
        return sum(1 for waiter in self._waiters if not waiter.done())

    async def acquire(self) -> bool:
        """Take a slot, waiting in line if needed (then True); QueueFull if the line is full."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return False
        if self.waiting >= self.queue_limit:
            raise QueueFull
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
            return True
        except asyncio.CancelledError:
            # A slot handed over just before the cancel must go back, not leak.
            if waiter.done() and not waiter.cancelled():
                self.release()
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give the slot to the longest waiter, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


def token_offsets(
    ttft_ms: float,
    itl_ms: float,
    count: int,
    *,
    jitter: float = 0.0,
    rng: random.Random | None = None,
    extra_ttft_ms: float = 0.0,
) -> list[float]:
    """Seconds after the slot is granted at which each of `count` tokens is due.

    Token k is due at TTFT + k * ITL (offsets are absolute, so sleeping late once does not
    shift later tokens); with `jitter` j each interval is scaled by a uniform factor in
    [1 - j, 1 + j] drawn from `rng`.
    """
    if count < 1:
        return []
    draw = rng or random.Random(0)

    def scaled(value_ms: float) -> float:
        return value_ms * (1.0 + draw.uniform(-jitter, jitter)) if jitter else value_ms

    offsets = [(scaled(ttft_ms) + extra_ttft_ms) / 1000.0]
    for _ in range(count - 1):
        offsets.append(offsets[-1] + scaled(itl_ms) / 1000.0)
    return offsets


async def sleep_until(deadline: float) -> None:
    """Sleep until the event loop's clock reaches `deadline` (no-op if it already has)."""
    delay = deadline - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)
