"""The master's check of worker record batches: known sender, HMAC of the whole batch, then
the batch's shape and every row's values (``batch_wire``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from qi_load.record.batch_wire import decode_batch
from qi_load.record.drops import DropCounter
from qi_load.record.ingest_key import verify
from qi_load.record.schema import RequestRecord
from qi_load.record.wire_check import WireError

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_RECORDS", "RecordGate"]

log = logging.getLogger(__name__)

MAX_BATCH_RECORDS: Final = 100_000
"""Records in one worker report at most (a report covers about one second)."""
MAX_BATCH_BYTES: Final = 128 * 1024 * 1024
"""Size of one report's records at most (well above 100,000 long-errored records)."""


class RecordGate:
    """Turns a worker's ``RecordsPayload`` into records, or drops (and counts) it.

    A payload from a sender that is not one of the runner's workers, without the HMAC the
    key asks for, or not a list of records is dropped whole; a record of the wrong shape is
    dropped alone, so one odd value costs one row, never a worker's batch.
    """

    def __init__(self, key: bytes | None, known: Callable[[str], bool]) -> None:
        self._key = key
        self._known = known
        self.drops = DropCounter("worker records", log)

    def admits(self, msg: Any) -> bool:
        """A worker's other qi-load message (``msg.node_id``, ``msg.data``) may be handled:
        from a known worker, its data an object or nothing; else it is dropped and counted."""
        if not self._known(msg.node_id):
            self.drops.drop("unknown_sender", f"{msg.type} from {str(msg.node_id)[:80]}")
            return False
        if msg.data is not None and not isinstance(msg.data, dict):
            self.drops.drop("malformed", f"{msg.type} from {str(msg.node_id)[:80]}")
            return False
        return True

    def accept(self, client_id: str, payload: Any) -> list[RequestRecord]:
        sender = str(client_id)[:80]
        if not self._known(client_id):
            self.drops.drop("unknown_sender", f"from {sender}")
            return []
        body = payload.get("body") if isinstance(payload, dict) else None
        if type(body) is not bytes or len(body) > MAX_BATCH_BYTES:
            self.drops.drop("malformed", f"from {sender}")
            return []
        if self._key is not None and not verify(self._key, body, payload.get("mac")):
            self.drops.drop("bad_signature", f"from {sender}: is the worker's key set?")
            return []
        try:
            batch = decode_batch(body, MAX_BATCH_RECORDS)
        except WireError as exc:
            self.drops.drop("malformed", f"from {sender}: {exc}")
            return []
        if batch.invalid:
            self.drops.drop("invalid", f"from {sender}: {batch.reason}", batch.invalid)
        return batch.records

    def reset(self) -> None:
        self.drops.reset()
