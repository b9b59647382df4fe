"""Worker record batches: only known workers, only with the key's HMAC over the whole batch,
only valid records."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import pytest

from qi_load.errors import QiLoadError
from qi_load.record.batch_wire import encode_batch
from qi_load.record.drops import drop_report, reset_gates
from qi_load.record.ingest_key import INGEST_KEY_ENV, ingest_key, sign, verify
from qi_load.record.record_gate import MAX_BATCH_RECORDS, RecordGate
from qi_load.record.recorder import serialize_records
from qi_load.record.schema import RequestRecord

KEY = b"k" * 32


def _record(i: int) -> RequestRecord:
    return RequestRecord(
        ts_sched=1.0, ts_start=1.0, worker="w1", user_id=i, query_type="simple", name="n"
    )


def _gate(key: bytes | None = None) -> RecordGate:
    return RecordGate(key, known=lambda client: client == "w1")


def test_signed_batch_from_a_known_worker_is_accepted() -> None:
    records = [_record(1), _record(2)]
    gate = _gate(KEY)
    assert gate.accept("w1", serialize_records("w1", records, KEY)) == records
    assert gate.drops.as_dict() == {}


@pytest.mark.parametrize(
    ("client", "payload", "reason"),
    [
        ("rogue", serialize_records("rogue", [_record(1)], KEY), "unknown_sender"),
        ("w1", serialize_records("w1", [_record(1)]), "bad_signature"),  # no key on the worker
        ("w1", serialize_records("w1", [_record(1)], b"x" * 32), "bad_signature"),
        ("w1", {"worker": "w1", "records": [_record(1).to_wire()]}, "malformed"),
        ("w1", [1, 2], "malformed"),
        ("w1", None, "malformed"),
    ],
)
def test_rejected_batches_are_counted(client: str, payload: Any, reason: str) -> None:
    gate = _gate(KEY)
    assert gate.accept(client, payload) == []
    assert gate.drops.as_dict() == {reason: 1}


def _raw(body: bytes, key: bytes | None = None) -> dict[str, Any]:
    return {"worker": "w1", "body": body, "mac": sign(key, body) if key else ""}


@pytest.mark.parametrize(
    "body",
    [b"\xc1", b"\x91" * 100_000 + b"\xc0", msgpack.packb({"records": []}), b"\x90" * 3],
)
def test_undecodable_bodies_are_malformed(body: bytes) -> None:
    gate = _gate()
    assert gate.accept("w1", _raw(body)) == []
    assert gate.drops.as_dict() == {"malformed": 1}


def test_one_bad_record_costs_one_row() -> None:
    data = msgpack.unpackb(encode_batch([_record(1), _record(2), _record(3), _record(4)]))
    data["cols"]["error_kind"] = ["none", "evil", "none", "none"]
    data["cols"]["ts_start"] = np.array([1.0, 1.0, np.nan, 1.0]).tobytes()
    gate = _gate()
    assert [r.user_id for r in gate.accept("w1", _raw(msgpack.packb(data)))] == [1, 4]
    assert gate.drops.as_dict() == {"invalid": 2}
    assert drop_report(records=gate, samples=None) == {"records": {"invalid": 2}}
    reset_gates(gate, None)
    assert drop_report(records=gate) == {"records": {}}


def test_a_batch_above_the_record_cap_is_refused_whole() -> None:
    body = msgpack.packb([0] * (MAX_BATCH_RECORDS + 1))
    gate = _gate()
    assert gate.accept("w1", _raw(body)) == []
    assert gate.drops.as_dict() == {"malformed": 1}


def test_ingest_key_from_the_environment() -> None:
    assert ingest_key({}) is None
    assert ingest_key({INGEST_KEY_ENV: " "}) is None
    assert ingest_key({INGEST_KEY_ENV: "a" * 16}) == b"a" * 16
    with pytest.raises(QiLoadError, match=f"{INGEST_KEY_ENV}: at least 16 characters"):
        ingest_key({INGEST_KEY_ENV: "short"})
    assert verify(KEY, b"body", sign(KEY, b"body"))
    assert not verify(KEY, b"body", sign(KEY, b"other"))
    assert not verify(KEY, b"body", None)


def test_other_worker_messages_only_from_known_workers_with_object_data() -> None:
    from types import SimpleNamespace

    gate = _gate()
    assert gate.admits(SimpleNamespace(type="qi_worker_left", node_id="w1", data={"x": 1}))
    assert gate.admits(SimpleNamespace(type="qi_worker_left", node_id="w1", data=None))
    assert not gate.admits(SimpleNamespace(type="qi_worker_left", node_id="rogue", data={}))
    assert not gate.admits(SimpleNamespace(type="qi_sequence_done", node_id="w1", data=[1]))
    assert gate.drops.as_dict() == {"malformed": 1, "unknown_sender": 1}
