"""Throughput and goodput per second of a window; which requests goodput counts."""

from __future__ import annotations

import math

import numpy as np

from qi_load.metrics.rates import failed, good, per_second, within


def test_per_second() -> None:
    assert per_second(30, 10.0) == 3.0
    assert per_second(0, 0.0) == 0.0
    assert math.isnan(per_second(3, 0.0))


def test_good_requests_succeeded_passed_or_unchecked_and_met_their_limits() -> None:
    ok = np.array([True, True, True, True, False])
    quality = np.array([1.0, np.nan, 0.0, 1.0, np.nan])
    met = within(np.array([100.0, 200.0, 100.0, 900.0, np.nan]), 500.0)
    assert met.tolist() == [True, True, True, False, False]
    assert good(ok, quality, met).tolist() == [True, True, False, False, False]


def test_failed_requests_are_not_ok_or_carry_an_error_kind() -> None:
    ok = np.array([True, False, True])
    kinds = np.array(["none", "timeout", "http"], dtype=object)
    assert failed(ok, kinds).tolist() == [False, True, True]
