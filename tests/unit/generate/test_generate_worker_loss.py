"""Users short after a worker loss: the gap, the rows' users and the stage's validity."""

from __future__ import annotations

from typing import Any

from qi_load.generate.worker_loss import WorkerLoss
from qi_load.record.schema import RequestRecord


def _mark(name: str, start: float, end: float, users: int) -> dict[str, Any]:
    return {"name": name, "start": start, "end": end, "users": users}


def _record(ts: float, users: int) -> RequestRecord:
    return RequestRecord(
        ts_sched=ts, ts_start=ts, worker="w2", user_id=1, query_type="simple", name="x", users=users
    )


def test_users_back_within_5_s_leave_the_stage_valid() -> None:
    loss = WorkerLoss()
    loss.reported("w1", {"user_count": 3}, 101.0)
    loss.lost("w1", 104.0)
    loss.sample(104.5, planned=6, running=3)
    loss.sample(105.5, planned=6, running=6)
    assert loss.invalid_stages([_mark("s", 90.0, 200.0, 6)], end=200.0) == {}


def test_users_short_too_long_invalidate_with_the_real_count() -> None:
    loss = WorkerLoss()
    loss.reported("w1", {"user_count": 3}, 100.0)
    loss.lost("w1", 104.0)
    for second in range(5, 12):
        loss.sample(100.0 + second, planned=6, running=3)
    loss.sample(112.0, planned=6, running=6)
    reasons = loss.invalid_stages(
        [_mark("before", 0.0, 99.0, 6), _mark("s", 99.0, 200.0, 6)], end=200.0
    )
    assert list(reasons) == ["s"]
    assert reasons["s"].startswith("worker w1 lost: 3 of 6 users ran for 12.0 s")


def test_a_gap_still_open_lasts_to_the_end_of_the_test() -> None:
    loss = WorkerLoss()
    loss.reported("w1", {"user_count": 2}, 100.0)
    loss.lost("w1", 103.0)
    reasons = loss.invalid_stages([_mark("s", 90.0, 150.0, 4)], end=120.0)
    assert "2 of 4 users ran for 20.0 s" in reasons["s"]


def test_rows_in_a_gap_carry_the_users_that_ran() -> None:
    loss = WorkerLoss()
    records = [_record(99.0, 6), _record(101.0, 6), _record(110.0, 6)]
    loss.correct(records)  # no loss yet: nothing changes
    assert [r.users for r in records] == [6, 6, 6]
    loss.reported("w1", {"user_count": 3}, 100.0)
    loss.lost("w1", 104.0)
    loss.sample(105.0, planned=6, running=3)
    loss.sample(106.0, planned=6, running=6)
    loss.correct(records)
    assert [r.users for r in records] == [6, 3, 6]


def test_a_worker_that_stopped_its_users_first_leaves_no_gap() -> None:
    loss = WorkerLoss()
    loss.reported("w1", {"user_count": 0}, 100.0)  # a graceful quit's last report
    loss.lost("w1", 100.5)
    assert loss.gaps == []
