"""Columnar record batches: lossless round trips; a batch of the wrong shape refused whole;
a row with a bad value dropped alone, counted, and named."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import pytest

from qi_load.record.batch_wire import BATCH_VERSION, decode_batch, encode_batch
from qi_load.record.schema import RequestRecord
from qi_load.record.wire_check import MAX_TEXT, WireError

CAP = 1000


def _record(i: int, **changes: Any) -> RequestRecord:
    record = RequestRecord(
        ts_sched=1_800_000_000.0 + i,
        ts_start=1_800_000_000.5 + i,
        worker="w1",
        user_id=i,
        query_type="code",
        name="code",
        conversation_id=f"c{i}",
        turn=2,
        stage="ramp",
        users=40,
        ttft_ms=120.5,
        e2e_ms=900,  # an int in a float field comes back as the float
        output_tokens=30,
        tokens_source="usage",
        quality_ok=True,
        trace_id="ab" * 16,
    )
    for key, value in changes.items():
        setattr(record, key, value)
    return record


RECORDS = [
    _record(1),
    _record(2, ok=False, error_kind="http", status_code=500, ttft_ms=None, quality_ok=None,
            output_tokens=None, error='HTTP 500: "busy", retry\nlater', tokens_source=""),
    _record(3, quality_ok=False, name="naïve, “quoted”", srv_llm_ms=0.0, retries=1),
    _record(4, error="e" * MAX_TEXT, user_id=2**62, bytes=-(2**62)),
]  # fmt: skip


def _columns(records: list[RequestRecord]) -> dict[str, Any]:
    data: dict[str, Any] = msgpack.unpackb(encode_batch(records))
    return data


def _body(cols: dict[str, Any], n: int, **header: Any) -> bytes:
    return bytes(msgpack.packb({"v": BATCH_VERSION, "n": n, "cols": cols, **header}))


def test_round_trip_is_lossless() -> None:
    batch = decode_batch(encode_batch(RECORDS), CAP)
    assert batch.records == RECORDS
    assert (batch.invalid, batch.reason) == (0, "")
    assert type(batch.records[0].e2e_ms) is float
    assert decode_batch(encode_batch([]), CAP).records == []


def test_the_batch_is_smaller_than_a_dict_per_record() -> None:
    per_record = len(msgpack.packb([r.to_wire() for r in RECORDS[:3] * 100]))
    assert len(encode_batch(RECORDS[:3] * 100)) < 0.8 * per_record


def test_a_column_left_out_takes_the_default() -> None:
    cols = _columns(RECORDS[:1])["cols"]
    del cols["retries"], cols["trace_id"]
    (record,) = decode_batch(_body(cols, 1), CAP).records
    assert (record.retries, record.trace_id) == (0, "")


def _f8(*values: float) -> bytes:
    return np.array(values, dtype="<f8").tobytes()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n": -1}, "bad batch header"),
        ({"n": True}, "bad batch header"),
        ({"n": CAP + 1}, "bad batch header"),
        ({"v": 2}, "not a record batch of this version"),
        ({"cols": [1, 2]}, "bad batch header"),
        ({"cols.extra": b""}, "unknown column 'extra'"),
        ({"cols.ts_start": None}, "column 'ts_start': expected 16 bytes"),
        ({"cols.ts_start": _f8(1.0)}, "column 'ts_start': expected 16 bytes"),
        ({"cols.ts_start": [1.0, 2.0]}, "column 'ts_start': expected 16 bytes"),
        ({"cols.worker": ["w1"]}, "column 'worker': expected a list of 2 strings"),
        ({"cols.ttft_ms": _f8(1.0, 2.0)}, "column 'ttft_ms': expected \\[values, nulls\\]"),
        ({"cols.ttft_ms": [_f8(1.0, 2.0), b"\0"]}, "column 'ttft_ms': 1 nulls for 2 rows"),
        ({"drop": "ts_sched"}, "missing column 'ts_sched'"),
    ],
)
def test_a_batch_of_the_wrong_shape_is_refused_whole(change: dict[str, Any], message: str) -> None:
    data = _columns(RECORDS[:2])
    for key, value in change.items():
        if key == "drop":
            del data["cols"][value]
        elif key.startswith("cols."):
            data["cols"][key[5:]] = value
        else:
            data[key] = value
    with pytest.raises(WireError, match=message):
        decode_batch(bytes(msgpack.packb(data)), CAP)


@pytest.mark.parametrize(
    "body", [b"\xc1", b"\x91" * 100_000 + b"\xc0", msgpack.packb([1, 2]), b"\x90" * 3]
)
def test_what_is_not_a_batch_at_all(body: bytes) -> None:
    with pytest.raises(WireError):
        decode_batch(body, CAP)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("ts_start", _f8(1.0, float("nan"), 3.0), "RequestRecord.ts_start: bad value nan"),
        ("e2e_ms", [_f8(1.0, float("inf"), 3.0), b"\0\0\0"], "e2e_ms: bad value inf"),
        ("ttft_ms", [_f8(1.0, 1e300, 3.0), b"\0\0\0"], "ttft_ms: bad value 1e+300"),
        ("ttft_ms", [_f8(1.0, 2.0, 3.0), b"\0\2\0"], "ttft_ms: bad value 2"),
        ("ok", b"\1\2\1", "RequestRecord.ok: bad value 2"),
        ("error_kind", ["none", "evil", "none"], "error_kind: bad value 'evil'"),
        ("worker", ["w", 7, "w"], "RequestRecord.worker: bad value 7"),
        ("error", ["", "e" * (MAX_TEXT + 1), ""], "RequestRecord.error: bad value 'eeee"),
    ],
)
def test_a_bad_value_costs_its_row(column: str, value: Any, reason: str) -> None:
    data = _columns([_record(1), _record(2), _record(3)])
    data["cols"][column] = value
    batch = decode_batch(bytes(msgpack.packb(data)), CAP)
    assert [r.user_id for r in batch.records] == [1, 3]
    assert batch.invalid == 1
    assert reason in batch.reason


def test_a_null_slot_holds_anything() -> None:
    data = _columns([_record(1), _record(2)])
    data["cols"]["ttft_ms"] = [_f8(float("nan"), 5.0), b"\1\0"]
    batch = decode_batch(bytes(msgpack.packb(data)), CAP)
    assert [r.ttft_ms for r in batch.records] == [None, 5.0]
