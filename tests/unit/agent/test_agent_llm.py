"""Token schedule and inference slots of the simulated model."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from qi_load.agent.llm import QueueFull, SlotPool, token_offsets


def test_offsets_without_jitter_are_ttft_plus_k_itl() -> None:
    offsets = token_offsets(150.0, 20.0, 20)
    assert len(offsets) == 20
    for k, offset in enumerate(offsets):
        assert offset == pytest.approx((150.0 + k * 20.0) / 1000.0, abs=1e-12)


def test_offsets_spike_only_delays_the_first_token_and_what_follows() -> None:
    base = token_offsets(100.0, 10.0, 5)
    spiked = token_offsets(100.0, 10.0, 5, extra_ttft_ms=500.0)
    assert [b - a for a, b in zip(base, spiked, strict=True)] == pytest.approx([0.5] * 5)


def test_jitter_stays_in_bounds_and_is_reproducible_with_a_seed() -> None:
    first = token_offsets(200.0, 10.0, 200, jitter=0.25, rng=random.Random(7))
    again = token_offsets(200.0, 10.0, 200, jitter=0.25, rng=random.Random(7))
    other = token_offsets(200.0, 10.0, 200, jitter=0.25, rng=random.Random(8))
    assert first == again != other
    assert 0.150 <= first[0] <= 0.250
    gaps = [b - a for a, b in itertools.pairwise(first)]
    assert all(0.0075 - 1e-12 <= gap <= 0.0125 + 1e-12 for gap in gaps)
    assert len(set(gaps)) > 100


def test_offsets_of_zero_tokens_are_empty() -> None:
    assert token_offsets(1.0, 1.0, 0) == []


def _run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def test_slots_are_granted_in_fifo_order_and_queue_overflows_with_queue_full() -> None:
    async def scenario() -> tuple[list[int], bool]:
        pool = SlotPool(slots=2, queue_limit=2)
        await pool.acquire()
        await pool.acquire()
        order: list[int] = []

        async def wait(i: int) -> None:
            await pool.acquire()
            order.append(i)

        waiters = [asyncio.create_task(wait(i)) for i in range(2)]
        await asyncio.sleep(0)
        assert pool.waiting == 2
        overflow = False
        try:
            await pool.acquire()
        except QueueFull:
            overflow = True
        pool.release()
        pool.release()
        await asyncio.gather(*waiters)
        assert pool.busy == 2 and pool.waiting == 0
        return order, overflow

    order, overflow = _run(scenario())  # type: ignore[misc]
    assert order == [0, 1]
    assert overflow


def test_a_cancelled_waiter_does_not_leak_its_slot() -> None:
    async def scenario() -> int:
        pool = SlotPool(slots=1, queue_limit=5)
        await pool.acquire()
        waiter = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0)
        pool.release()  # hands the slot to the waiter ...
        waiter.cancel()  # ... which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return pool.busy

    assert _run(scenario()) == 0
