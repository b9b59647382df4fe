"""Locust's per-second counters on the master stay bounded; its current rate is unchanged."""

from __future__ import annotations

from locust.stats import RequestStats

from qi_load.generate.locust_trim import KEEP_S, trim_rate_counters


def test_old_seconds_go_and_the_current_rate_stays() -> None:
    stats = RequestStats()
    stats.log_request("POST", "simple", 10, 100)
    entry = stats.get("simple", "POST")
    for e in (entry, stats.total):
        e.num_reqs_per_sec.clear()
        e.num_reqs_per_sec.update({t: t % 7 for t in range(1000, 1300)})
        e.num_fail_per_sec.update({t: 1 for t in range(1000, 1300, 2)})
        e.last_request_timestamp, e.start_time = 1299.5, 1000.0
    before = (entry.current_rps, entry.current_fail_per_sec, stats.total.current_rps)
    assert trim_rate_counters(stats, 1300.0) == 2 * (240 + 120)
    for e in (entry, stats.total):
        assert min(e.num_reqs_per_sec) == min(e.num_fail_per_sec) == 1300 - KEEP_S
    assert (entry.current_rps, entry.current_fail_per_sec, stats.total.current_rps) == before
    assert before[0] > 0
    assert trim_rate_counters(stats, 1300.0) == 0
