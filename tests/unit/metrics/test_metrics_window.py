"""Stage membership: the steady-state window and the requests that ended in it."""

from __future__ import annotations

import numpy as np

from qi_load.metrics.window import ends_in, request_end, window_start


def test_the_window_starts_after_ramp_and_settle_but_keeps_half_the_hold() -> None:
    assert window_start(10.0, 40.0, 5.0) == 15.0
    assert window_start(10.0, 20.0, 30.0) == 15.0


def test_a_request_belongs_to_the_window_it_ended_in() -> None:
    ends = np.array([9.99, 10.0, 19.99, 20.0, np.nan])
    assert ends_in(ends, 10.0, 20.0).tolist() == [False, True, True, False, False]


def test_a_failure_without_latency_ends_where_it_started() -> None:
    assert request_end(100.0, None) == 100.0
    assert request_end(100.0, 1500.0) == 101.5
    assert request_end(np.array([1.0, 2.0]), np.array([np.nan, 500.0])).tolist() == [1.0, 2.5]
    assert request_end([1.0, 2.0], [None, 500.0]).tolist() == [1.0, 2.5]
