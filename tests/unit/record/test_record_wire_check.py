"""Records and samples from the wire: every field's type, finiteness and length checked."""

from __future__ import annotations

from typing import Any

import pytest

from qi_load.record.schema import HostSample, RequestRecord
from qi_load.record.wire_check import MAX_TEXT, WireError, checked_host_sample, checked_record

SAMPLE = HostSample(ts=1.0, host="h", role="sut", pid=3, cpu_percent=1.5, rss_bytes=2)
RECORD = RequestRecord(
    ts_sched=1.0, ts_start=2.0, worker="w", user_id=1, query_type="simple", name="n", e2e_ms=3
)


def test_valid_wire_forms_come_back_equal() -> None:
    assert checked_host_sample(SAMPLE.to_wire()) == SAMPLE
    assert checked_record(RECORD.to_wire()) == RECORD
    assert checked_host_sample({**SAMPLE.to_wire(), "ts": 5}).ts == 5  # JSON's 5.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pid": "7"}, "HostSample.pid: bad value '7'"),
        ({"pid": True}, "HostSample.pid: bad value True"),
        ({"pid": 1.0}, "HostSample.pid: bad value 1.0"),
        ({"pid": 2**64}, "HostSample.pid: bad value"),
        ({"ts": float("nan")}, "HostSample.ts: bad value nan"),
        ({"cpu_percent": float("inf")}, "HostSample.cpu_percent: bad value inf"),
        ({"cpu_percent": 1e300}, "HostSample.cpu_percent: bad value"),
        ({"role": "admin"}, "HostSample.role: bad value 'admin'"),
        ({"host": "x" * (MAX_TEXT + 1)}, "HostSample.host: bad value"),
        ({"name": {"a": [1]}}, "HostSample.name: bad value (dict of 1)"),
        ({"cpu_quota_cores": [1.0]}, "HostSample.cpu_quota_cores: bad value (list of 1)"),
        ({"extra": 1}, "HostSample: unknown field 'extra'"),
    ],
)
def test_bad_sample_fields_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(WireError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        checked_host_sample({**SAMPLE.to_wire(), **change})


@pytest.mark.parametrize("data", [[1], "x", None, {"ts": 1.0}, {1: 2}])
def test_not_a_sample_at_all(data: Any) -> None:
    with pytest.raises(WireError):
        checked_host_sample(data)


@pytest.mark.parametrize(
    "change",
    [
        {"error_kind": "evil"},
        {"ok": "yes"},
        {"ttft_ms": float("-inf")},
        {"quality_ok": 1},
        {"output_tokens": 1.5},
        {"error": "e" * (MAX_TEXT + 1)},
    ],
)
def test_bad_record_fields(change: dict[str, Any]) -> None:
    with pytest.raises(WireError, match=f"RequestRecord.{next(iter(change))}: bad value"):
        checked_record({**RECORD.to_wire(), **change})


def test_optional_fields_take_none() -> None:
    record = checked_record({**RECORD.to_wire(), "ttft_ms": None, "quality_ok": None})
    assert record.ttft_ms is None and record.quality_ok is None
