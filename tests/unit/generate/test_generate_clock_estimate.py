"""The NTP-style offset estimate: plain numbers in, the lowest-delay sample's offset out."""

from __future__ import annotations

import math
import random

import pytest

from qi_load.generate.clock_estimate import ClockEstimate, ClockSample, disagree, estimate_offset


def _exchange(
    offset: float, *, out: float, back: float, handling: float = 0.001, t1: float = 1000.0
) -> ClockSample:
    """A ping sent at ``t1`` (worker), ``out`` s on the wire to a master whose clock reads
    ``offset`` more, ``handling`` s there, ``back`` s on the wire back."""
    t2 = t1 + out + offset
    t3 = t2 + handling
    return ClockSample(t1=t1, t2=t2, t3=t3, t4=t3 - offset + back)


def test_a_symmetric_exchange_gives_the_offset_and_the_round_trip() -> None:
    sample = _exchange(2.5, out=0.01, back=0.01)
    assert sample.offset_s == pytest.approx(2.5)
    assert sample.delay_s == pytest.approx(0.02)
    assert estimate_offset([sample]) == ClockEstimate(
        offset_s=sample.offset_s, delay_s=sample.delay_s, samples=1
    )


def test_the_lowest_delay_sample_wins() -> None:
    samples = [
        _exchange(-2.0, out=0.200, back=0.002),  # stuck in a queue on the way out
        _exchange(-2.0, out=0.001, back=0.0012),
        _exchange(-2.0, out=0.002, back=0.090),  # the worker was busy: the pong waited
    ]
    estimate = estimate_offset(samples)
    assert estimate is not None
    assert estimate.delay_s == pytest.approx(0.0022)
    assert estimate.offset_s == pytest.approx(-2.0, abs=0.0002)
    assert estimate.samples == 3


def test_any_sample_is_right_within_half_its_delay() -> None:
    rng = random.Random(7)
    for _ in range(500):
        offset = rng.uniform(-5.0, 5.0)
        sample = _exchange(offset, out=rng.uniform(0, 0.3), back=rng.uniform(0, 0.3))
        assert abs(sample.offset_s - offset) <= sample.delay_s / 2 + 1e-9


def test_exchanges_a_stepped_clock_spoiled_are_not_used() -> None:
    good = _exchange(1.0, out=0.05, back=0.05)
    negative_trip = ClockSample(t1=10.0, t2=11.0, t3=11.001, t4=9.9)
    answered_before_received = ClockSample(t1=10.0, t2=11.0, t3=10.5, t4=10.01)
    not_a_time = ClockSample(t1=10.0, t2=math.nan, t3=11.0, t4=10.01)
    estimate = estimate_offset([negative_trip, answered_before_received, not_a_time, good])
    assert estimate is not None and estimate.samples == 1
    assert estimate.offset_s == pytest.approx(1.0)
    assert estimate_offset([negative_trip, not_a_time]) is None
    assert estimate_offset([]) is None


def test_estimates_disagree_only_beyond_both_error_bounds_and_the_drift() -> None:
    kept = ClockEstimate(offset_s=-2.000, delay_s=0.002, samples=24)
    assert not disagree(kept, ClockEstimate(offset_s=-2.004, delay_s=0.004, samples=8), 0.002)
    assert not disagree(kept, ClockEstimate(offset_s=-1.990, delay_s=0.020, samples=8), 0.0)
    stepped = ClockEstimate(offset_s=-1.500, delay_s=0.002, samples=8)  # stepped by 0.5 s
    assert disagree(kept, stepped, 0.005) and disagree(stepped, kept, 0.005)
